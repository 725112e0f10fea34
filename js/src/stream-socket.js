// The stream socket a player owns (DESIGN §4): JSON text frames go to `onMessage`, binary frames (whole
// MPEG-TS packets) to `onBinary`, and a close the player did not ask for to `onClose`, once. The socket is
// the server extension's WebSocket or a KernelSocket over the widget's comm, from the backend's `openSocket`.

/** @typedef {import('./server.js').SocketLike} SocketLike */
/** @typedef {import('./player.js').ServerMessage} ServerMessage */

const OPEN = 1; // readyState of an open WebSocket (and KernelSocket)

/**
 * @typedef {object} SocketEvents
 * @property {(message: ServerMessage) => void} onMessage  a JSON object from the server
 * @property {(data: ArrayBuffer) => void} onBinary        video bytes
 * @property {(event: {code: number, reason: string, opened: boolean}) => void} onClose
 *   the socket closed by itself (not by close())
 */

export class StreamSocket {
  /**
   * @param {() => SocketLike} connect  opens the stream's socket
   * @param {SocketEvents} events
   */
  constructor(connect, events) {
    this.connect = connect;
    this.events = events;
    /** @type {SocketLike | null} */
    this.socket = null;
  }

  open() {
    const socket = this.connect();
    socket.binaryType = 'arraybuffer';
    let opened = false;
    socket.onopen = () => {
      opened = true;
    };
    socket.onmessage = (event) => {
      const data = event.data;
      if (typeof data !== 'string') {
        this.events.onBinary(data);
        return;
      }
      /** @type {ServerMessage | null} */
      let message = null;
      try {
        message = JSON.parse(data);
      } catch {
        return; // not a message of DESIGN §4
      }
      if (message && typeof message === 'object') this.events.onMessage(message);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.events.onClose({ code: event.code, reason: event.reason, opened });
    };
    this.socket = socket;
  }

  /**
   * Sends `{"action": action}`; false when the socket is not open.
   * @param {'start' | 'pause' | 'resume' | 'stop' | 'reconnect'} action
   */
  send(action) {
    if (this.socket && this.socket.readyState === OPEN) {
      this.socket.send(JSON.stringify({ action }));
      return true;
    }
    return false;
  }

  /** Whether the socket is open or opening. */
  get connected() {
    return this.socket !== null && this.socket.readyState <= OPEN;
  }

  /** Closes the socket for good; `onClose` is not called for it. */
  close() {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      socket.close(1000, 'closed by the viewer');
    }
  }
}
