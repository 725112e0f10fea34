// Finding the Jupyter server from the page, and calling the extension's REST API.
//
// The grid talks to a backend: this extension's API, or the kernel over the widget's comm
// (kernel.js). Both answer `request` with the same JSON and errors, and open stream sockets that
// behave like the stream WebSocket.
//
// The page tells us where the server is: `#jupyter-config-data` holds `baseUrl` and, when the server
// runs with one, the `token`. Under JupyterHub the token is empty and the login cookie authenticates;
// every fetch then needs Jupyter's XSRF header (the value of the `_xsrf` cookie), which we always send.

/**
 * @typedef {object} ServerInfo
 * @property {string} baseUrl  ends with "/", e.g. "/user/test/"
 * @property {string} token    empty when the login cookie authenticates
 */

/**
 * @typedef {object} Stream
 * @property {string} id
 * @property {string} label
 * @property {string} url       masked: never holds a password
 * @property {string} state
 * @property {number} viewers
 * @property {string | null} last_error
 * @property {string} ws_url    relative to the base URL
 * @property {Record<string, unknown>} options
 * @property {string} [updated_at]  ISO time of the last change
 * @property {string | null} [sub_url]  masked, like `url`
 */

/**
 * An event handler property that a WebSocket's own handler type satisfies too (a method's parameters
 * are compared both ways, so `(ev: MessageEvent) => any` fits `Handler<{data: ...}>`).
 * @template E
 * @typedef {{handle(event: E): void}['handle']} Handler
 */

/**
 * What the grid needs of a stream socket: a WebSocket (binary frames as ArrayBuffer) or a KernelSocket.
 * @typedef {object} SocketLike
 * @property {BinaryType} binaryType
 * @property {number} readyState        0 connecting, 1 open, 2 closing, 3 closed
 * @property {Handler<unknown> | null} onopen
 * @property {Handler<{data: string | ArrayBuffer}> | null} onmessage
 * @property {Handler<{code: number, reason: string}> | null} onclose
 * @property {(text: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 */

/**
 * Where the grid's requests and streams go: the server extension (`Api`) or the kernel (`KernelApi`).
 * @typedef {object} Backend
 * @property {(method: string, path: string, body?: unknown, signal?: AbortSignal) => Promise<any>} request
 *   `path` relative to `rtsp/api/`; resolves with the JSON answer (null for 204), rejects with ApiError
 * @property {(stream: Stream, profile: 'grid' | 'full', codec?: 'h264' | 'mpeg1') => SocketLike} openSocket
 *   the stream's socket in a profile; `codec` (default 'mpeg1') picks the wire codec: 'h264' is the camera's
 *   own video (H.264, or HEVC for an H.265 camera: its `video_start` says which; a server older than the
 *   parameter sends MPEG-1 whatever it asks)
 * @property {(path: string, signal?: AbortSignal) => Promise<Blob>} [download]  a file the API serves
 *   (a clip's MP4), fetched with the page's credentials; absent over the kernel's comm (JSON only)
 */

/** An error answer of the API: `{"error": {"code", "message"}}` with its HTTP status. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** @returns {ServerInfo | null} the server this page was served by, or null outside Jupyter. */
export function pageServer() {
  const el = document.getElementById('jupyter-config-data');
  if (!el || !el.textContent) return null;
  try {
    const data = JSON.parse(el.textContent);
    const baseUrl = typeof data.baseUrl === 'string' ? data.baseUrl : '/';
    return {
      baseUrl: baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`,
      token: typeof data.token === 'string' ? data.token : '',
    };
  } catch {
    return null;
  }
}

/**
 * @param {string} name
 * @returns {string | null}
 */
function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

/** The server extension's REST API and stream WebSocket. @implements {Backend} */
export class Api {
  /** @param {ServerInfo} server */
  constructor(server) {
    this.server = server;
    this.root = new URL(`${server.baseUrl}rtsp/api/`, window.location.href);
  }

  /**
   * @param {string} method
   * @param {string} path  relative to `{baseUrl}rtsp/api/`
   * @param {unknown} [body]
   * @param {AbortSignal} [signal]
   * @returns {Promise<any>}
   */
  async request(method, path, body, signal) {
    /** @type {Record<string, string>} */
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.server.token) headers.Authorization = `token ${this.server.token}`;
    const xsrf = cookie('_xsrf');
    if (xsrf) headers['X-XSRFToken'] = xsrf;
    const response = await fetch(new URL(path, this.root), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
    if (response.status === 204) return null;
    /** @type {any} */
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = data && typeof data === 'object' ? data.error : null;
      const code = error && typeof error.code === 'string' ? error.code : `HTTP_${response.status}`;
      const message =
        error && typeof error.message === 'string' ? error.message : `the server answered ${response.status}`;
      throw new ApiError(response.status, code, message);
    }
    return data;
  }

  /**
   * @param {string} path  relative to `{baseUrl}rtsp/api/`
   * @param {AbortSignal} [signal]
   * @returns {Promise<Blob>}
   */
  async download(path, signal) {
    /** @type {Record<string, string>} */
    const headers = {};
    if (this.server.token) headers.Authorization = `token ${this.server.token}`;
    const response = await fetch(new URL(path, this.root), { headers, credentials: 'same-origin', signal });
    if (!response.ok) throw new ApiError(response.status, `HTTP_${response.status}`, `the download answered ${response.status}`);
    return response.blob();
  }

  /**
   * The WebSocket URL of a stream's `ws_url` (relative to the base URL) in a profile and wire codec.
   * Same origin, so the login cookie authenticates it.
   * @param {Stream} stream
   * @param {'grid' | 'full'} profile
   * @param {'h264' | 'mpeg1'} [codec]
   */
  socketUrl(stream, profile, codec = 'mpeg1') {
    const url = new URL(`${this.server.baseUrl}${stream.ws_url}`, window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('profile', profile);
    url.searchParams.set('codec', codec);
    return url.toString();
  }

  /**
   * @param {Stream} stream
   * @param {'grid' | 'full'} profile
   * @param {'h264' | 'mpeg1'} [codec]
   * @returns {SocketLike}
   */
  openSocket(stream, profile, codec = 'mpeg1') {
    return new WebSocket(this.socketUrl(stream, profile, codec));
  }
}

/**
 * The extension's API when the page can reach it, else null (no Jupyter page, or no extension).
 * @param {AbortSignal} [signal]
 * @returns {Promise<Api | null>}
 */
export async function findApi(signal) {
  const server = pageServer();
  if (!server) return null;
  const api = new Api(server);
  try {
    const health = await api.request('GET', 'health', undefined, signal);
    return health && health.status === 'healthy' ? api : null;
  } catch (error) {
    if (signal?.aborted) throw error;
    return null;
  }
}
