// Types for the Connect Hub embed SDK (`/connect.js`, which defines `window.ConnectHub`).
// Docs: docs/embed-sdk.md. Event names and payloads: docs/widget-events.md.

export as namespace ConnectHub;

/** The v2 payload of `connect/memberConnected` (aggregators may add fields). */
export interface ConnectedMetadata {
  ucpInstitutionId: string;
  aggregator: string;
  connectionId: string;
  aggregatorUserId: string;
  [extra: string]: unknown;
}

export interface ConnectError {
  /**
   * `DENIED`, `LOCKED`, `FAILED`, … (connection status name, from `connect/memberError`);
   * the OAuth `error_reason` (`DENIED`, `CANCELLED`, …, from `connect/oauthError`);
   * `CREATE_MEMBER_ERROR` (from `connect/createMemberError`);
   * `WIDGET_URL_ERROR` (your `widgetUrl()` function failed).
   */
  code: string;
  /** The widget step the failure happened in (`connecting`, `enterCreds`, …), if known. */
  step: string | null;
  message?: string;
}

export interface EmbedOptions {
  /** From your server's `POST /widgetUrl`; or a function giving it (or a Promise of it). */
  widgetUrl: string | (() => string | Promise<string>);
  /** Where the iframe (or, in popup mode, the fallback link) goes: an element or a selector. */
  container?: Element | string;
  /** `iframe` (default) or `popup`. Call popup mode from a click handler. */
  mode?: 'iframe' | 'popup';
  /** Exactly once per widget, on `connect/memberConnected`. Save these ids on your server. */
  onSuccess?: (metadata: ConnectedMetadata) => void;
  /** A failure the widget reported (the user may still retry inside the widget). */
  onError?: (error: ConnectError) => void;
  /** Every event from this widget, including the ones above. */
  onEvent?: (type: string, metadata: Record<string, unknown>) => void;
  /** The user closed the widget (Close, Done, or closed the popup window). At most once. */
  onExit?: () => void;
  /** The iframe's accessible title. Default "Connect your account". */
  title?: string;
  /** The iframe's height before the widget reports its own. Default 560 (px). */
  initialHeight?: number;
  /** Popup blocked: the sentence before the link. Default "Your browser blocked the pop-up window." */
  blockedText?: string;
  /** Popup blocked: the link's text. Default "Open the window to connect your account". */
  linkText?: string;
}

export interface EmbedHandle {
  /** Removes the iframe or closes the popup, and stops all callbacks. */
  destroy(): void;
  readonly iframe: HTMLIFrameElement | null;
  readonly popup: Window | null;
}

export function embed(options: EmbedOptions): EmbedHandle;
export const version: string;

declare global {
  interface Window {
    ConnectHub: { embed: typeof embed; version: string };
  }
}
