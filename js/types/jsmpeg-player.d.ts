// Types for the part of @cycjimmy/jsmpeg-player 6.1 (dist/jsmpeg-player.esm.js) the widget can use.
// The package ships no types. Written from its source; options the player reads but never documents are
// left out. A Player never stops on its own: call destroy() (a WebSocket source reconnects every
// `reconnectInterval` seconds until then).

declare module '@cycjimmy/jsmpeg-player' {
  /** Where a source writes the bytes it receives (the TS demuxer). */
  export interface Destination {
    write(buffer: ArrayBuffer): void;
  }

  /** A source of MPEG-TS bytes: JSMpeg.Source.WebSocket, or the widget's own (`options.source`). */
  export interface Source {
    /** true for live sources (the player then decodes as soon as data arrives). */
    streaming: boolean;
    /** true once the first data arrived. */
    established: boolean;
    completed: boolean;
    /** 0..1 */
    progress: number;
    destination: Destination | null;
    connect(destination: Destination): void;
    start(): void;
    resume(secondsHeadroom?: number): void;
    destroy(): void;
  }

  export interface SourceConstructor {
    new (url: string, options: PlayerOptions): Source;
  }

  export interface PlayerHooks {
    play?: () => void;
    pause?: () => void;
    stop?: () => void;
    /** Called when the source receives its first data. */
    load?: () => void;
  }

  export interface PlayerOptions {
    /** The canvas to render into; the renderer creates (and on destroy removes) its own without one. */
    canvas?: HTMLCanvasElement;
    /** A custom source class instead of the WebSocket/Ajax ones chosen from the URL. */
    source?: SourceConstructor;
    /** Seconds between WebSocket reconnect attempts; 0 disables reconnecting. Default 5. */
    reconnectInterval?: number;
    /** WebSocket sub-protocols. */
    protocols?: string | string[];
    autoplay?: boolean;
    loop?: boolean;
    audio?: boolean;
    video?: boolean;
    /** Default true: pause while the page is hidden (the listener is never removed, even by destroy). */
    pauseWhenHidden?: boolean;
    disableGl?: boolean;
    disableWebAssembly?: boolean;
    preserveDrawingBuffer?: boolean;
    progressive?: boolean;
    throttled?: boolean;
    chunkSize?: number;
    maxAudioLag?: number;
    videoBufferSize?: number;
    audioBufferSize?: number;
    decodeFirstFrame?: boolean;
    onSourceEstablished?: (source: Source) => void;
    onSourceCompleted?: (source: Source) => void;
    onPlay?: (player: Player) => void;
    onPause?: (player: Player) => void;
    onEnded?: (player: Player) => void;
    onStalled?: (player: Player) => void;
    onVideoDecode?: (decoder: unknown, elapsedTime: number) => void;
    onAudioDecode?: (decoder: unknown, elapsedTime: number) => void;
  }

  export class Player {
    constructor(url: string, options?: PlayerOptions, hooks?: PlayerHooks);
    options: PlayerOptions & { streaming: boolean };
    source: Source;
    paused: boolean;
    isPlaying: boolean;
    wantsToPlay: boolean;
    volume: number;
    currentTime: number;
    loop: boolean;
    autoplay: boolean;
    play(): void;
    pause(): void;
    stop(): void;
    /** Pauses, closes the source (no more reconnects) and frees the decoders and the renderer. */
    destroy(): void;
    seek(time: number): void;
    nextFrame(): boolean;
    getVolume(): number;
    setVolume(volume: number): void;
    getCurrentTime(): number;
    setCurrentTime(time: number): void;
  }

  export interface VideoElementOptions {
    canvas?: string | HTMLCanvasElement;
    poster?: string;
    autoplay?: boolean;
    autoSetWrapperSize?: boolean;
    loop?: boolean;
    control?: boolean;
    decodeFirstFrame?: boolean;
    picMode?: boolean;
    progressive?: boolean;
    chunkSize?: number;
    hooks?: PlayerHooks;
  }

  /** A Player with a canvas, play and unmute buttons inside `wrapper`. */
  export class VideoElement {
    constructor(
      wrapper: string | HTMLElement,
      videoUrl: string,
      options?: VideoElementOptions,
      overlayOptions?: PlayerOptions,
    );
    player: Player;
    play(): void;
    pause(): void;
    stop(): void;
    /** Destroys the player and empties the wrapper. */
    destroy(): void;
  }

  export class WebSocketSource implements Source {
    constructor(url: string, options: PlayerOptions);
    url: string;
    socket: WebSocket | null;
    reconnectInterval: number;
    shouldAttemptReconnect: boolean;
    streaming: boolean;
    established: boolean;
    completed: boolean;
    progress: number;
    destination: Destination | null;
    connect(destination: Destination): void;
    start(): void;
    resume(secondsHeadroom?: number): void;
    destroy(): void;
  }

  const JSMpeg: {
    Player: typeof Player;
    VideoElement: typeof VideoElement;
    Source: {
      Ajax: SourceConstructor;
      AjaxProgressive: SourceConstructor;
      WebSocket: typeof WebSocketSource;
      Fetch: SourceConstructor;
    };
    /** Seconds, from performance.now(). */
    Now(): number;
  };
  export default JSMpeg;
}
