// H.264 NAL units in Annex-B bytes, and the sequence parameter set (ITU-T H.264 § 7.3.2.1.1): the codec
// string a VideoDecoder is configured with ('avc1.PPCCLL', RFC 6381) and the picture size after cropping.

/** NAL unit types this player looks at. */
export const NalType = Object.freeze({ IDR: 5, SPS: 7, PPS: 8, AUD: 9 });

/** profile_idc values whose SPS carries chroma format, bit depths and scaling lists (§ 7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/**
 * @typedef {object} NalUnit
 * @property {number} type    nal_unit_type (5 IDR, 7 SPS, 8 PPS, 9 AUD, 1 non-IDR slice, ...)
 * @property {number} start   offset of its header byte (after the start code)
 * @property {number} end     offset just past its last byte
 */

/**
 * The NAL units of Annex-B bytes (start codes 00 00 01 or 00 00 00 01).
 * @param {Uint8Array} bytes
 * @returns {NalUnit[]}
 */
export function nalUnits(bytes) {
  /** @type {NalUnit[]} */
  const units = [];
  const n = bytes.length;
  let start = -1;
  for (let i = 0; i + 2 < n; i++) {
    if (bytes[i + 2] > 1) {
      i += 2; // no start code can begin at i, i+1 or i+2
      continue;
    }
    if (bytes[i] !== 0 || bytes[i + 1] !== 0 || bytes[i + 2] !== 1) continue;
    if (start >= 0) units.push(unit(bytes, start, i));
    start = i + 3;
    i += 2;
  }
  if (start >= 0 && start < n) units.push(unit(bytes, start, n));
  return units;
}

/** @param {Uint8Array} bytes @param {number} start @param {number} end @returns {NalUnit} */
function unit(bytes, start, end) {
  while (end > start && bytes[end - 1] === 0) end--; // trailing zeros belong to the next start code
  return { type: bytes[start] & 0x1f, start, end };
}

/** Reads bits MSB first from an RBSP (emulation prevention bytes already removed). */
export class BitReader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.bit = 0;
  }

  /** @returns {number} one bit */
  u1() {
    const byte = this.bit >> 3;
    if (byte >= this.bytes.length) throw new RangeError('SPS ends early');
    const value = (this.bytes[byte] >> (7 - (this.bit & 7))) & 1;
    this.bit += 1;
    return value;
  }

  /** @param {number} n bits (up to 32) @returns {number} */
  u(n) {
    let value = 0;
    for (let i = 0; i < n; i++) value = value * 2 + this.u1();
    return value;
  }

  /** ue(v): unsigned exp-Golomb @returns {number} */
  ue() {
    let zeros = 0;
    while (this.u1() === 0) {
      zeros += 1;
      if (zeros > 31) throw new RangeError('exp-Golomb code longer than 32 bits');
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  /** se(v): signed exp-Golomb @returns {number} */
  se() {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -k / 2;
  }
}

/**
 * The RBSP of a NAL unit's payload: without its header byte and emulation prevention bytes (00 00 03).
 * @param {Uint8Array} nal  the NAL unit from its header byte
 * @returns {Uint8Array}
 */
export function rbsp(nal) {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (let i = 1; i < nal.length; i++) {
    const byte = nal[i];
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out[n++] = byte;
  }
  return out.subarray(0, n);
}

/**
 * @typedef {object} SpsInfo
 * @property {string} codecString    'avc1.PPCCLL': profile_idc, the constraint flags byte, level_idc in hex
 * @property {number} width          luma samples after frame cropping
 * @property {number} height
 * @property {number} profileIdc
 * @property {number} constraintFlags
 * @property {number} levelIdc
 * @property {number} chromaFormatIdc  1 = 4:2:0
 * @property {number} bitDepth         luma bit depth
 * @property {number} codedWidth       in whole macroblocks, before cropping
 * @property {number} codedHeight
 */

/** @param {number} value @returns {string} two hex digits */
const hex2 = (value) => value.toString(16).padStart(2, '0');

/**
 * Parses a sequence parameter set.
 * @param {Uint8Array} nal  the SPS NAL unit from its header byte (type 7), with emulation prevention bytes
 * @returns {SpsInfo}
 */
export function parseSps(nal) {
  if ((nal[0] & 0x1f) !== NalType.SPS) throw new TypeError(`not an SPS: NAL unit type ${nal[0] & 0x1f}`);
  const r = new BitReader(rbsp(nal));
  const profileIdc = r.u(8);
  const constraintFlags = r.u(8);
  const levelIdc = r.u(8);
  r.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let separateColourPlane = 0;
  let bitDepth = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separateColourPlane = r.u1();
    bitDepth = 8 + r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.u1(); // qpprime_y_zero_transform_bypass_flag
    if (r.u1()) {
      // seq_scaling_matrix_present_flag: 6 4x4 lists, then 2 (or 6 for 4:4:4) 8x8 lists
      const lists = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) if (r.u1()) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.u1(); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    for (let i = 0; i < cycle; i++) r.se(); // offset_for_ref_frame
  }
  r.ue(); // max_num_ref_frames
  r.u1(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.u1();
  if (!frameMbsOnly) r.u1(); // mb_adaptive_frame_field_flag
  r.u1(); // direct_8x8_inference_flag
  const codedWidth = widthMbs * 16;
  const codedHeight = (2 - frameMbsOnly) * heightMapUnits * 16;
  let width = codedWidth;
  let height = codedHeight;
  if (r.u1()) {
    // frame_cropping_flag: offsets in crop units (Table 6-1 and equations 7-19 to 7-22)
    const [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
    const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
    width -= (left + right) * cropUnitX;
    height -= (top + bottom) * cropUnitY;
  }
  return {
    codecString: `avc1.${hex2(profileIdc)}${hex2(constraintFlags)}${hex2(levelIdc)}`,
    width,
    height,
    profileIdc,
    constraintFlags,
    levelIdc,
    chromaFormatIdc,
    bitDepth,
    codedWidth,
    codedHeight,
  };
}

/** scaling_list(): skipped, only its length matters here. @param {BitReader} r @param {number} size */
function skipScalingList(r, size) {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}
