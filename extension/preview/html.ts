// The preview panel's HTML document: a pure function of what to show, a nonce and the
// webview's CSP source. No `vscode` import: unit-testable.
//
// Every string that comes from the server (summary, findings, URIs, error messages) is
// escaped here; the preview markdown goes through renderMarkdown's allowlist. The
// Content-Security-Policy allows no network access, data: images, and only the style and
// script elements that carry this document's nonce.
import type { Finding, Preview } from '../common/protocol';
import { formatBytes } from '../format';
import { renderMarkdown } from './markdown';

export type PreviewState =
  | { readonly state: 'loading' }
  | { readonly state: 'error'; readonly message: string }
  | { readonly state: 'ready'; readonly preview: Preview };

export interface DocumentContext {
  /** The artifact URI the panel shows. */
  readonly uri: string;
  /** The panel's title: the artifact's name. */
  readonly title: string;
  /** A fresh random value per document (base64 or hex). */
  readonly nonce: string;
  /** `webview.cspSource`. */
  readonly cspSource: string;
}

/** Messages the document's script posts to the extension. */
export type PanelMessage = { readonly type: 'refresh' } | { readonly type: 'download' };

export function isPanelMessage(value: unknown): value is PanelMessage {
  const type = (value as { type?: unknown } | null)?.type;
  return type === 'refresh' || type === 'download';
}

/** What the document keeps as its webview state, so the panel comes back after a reload. */
export interface SavedPanel {
  readonly uri: string;
  readonly title: string;
}

const MAX_SAVED_URI = 8192;

/** The artifact a restored panel showed, when the saved state names one sensibly. */
export function savedPanel(state: unknown): SavedPanel | undefined {
  const { uri, title } = (state ?? {}) as { uri?: unknown; title?: unknown };
  if (typeof uri !== 'string' || uri === '' || uri.length > MAX_SAVED_URI) {
    return undefined;
  }
  return { uri, title: typeof title === 'string' && title !== '' ? title : displayName(uri) };
}

export function contentSecurityPolicy(nonce: string, cspSource: string): string {
  return [
    "default-src 'none'",
    `img-src data: ${cspSource}`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export function previewDocument(context: DocumentContext, state: PreviewState): string {
  const { nonce, cspSource, title, uri } = context;
  const nonceAttr = escapeAttribute(nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttribute(contentSecurityPolicy(nonce, cspSource))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style nonce="${nonceAttr}">${STYLE}</style>
</head>
<body class="state-${state.state}" data-uri="${escapeAttribute(uri)}" data-title="${escapeAttribute(title)}">
<header>
<h1 class="title">${escapeHtml(title)}</h1>
<div class="uri" title="${escapeAttribute(uri)}">${escapeHtml(uri)}</div>
<div class="actions">
<button type="button" id="refresh" class="secondary" title="Read the artifact again">${state.state === 'error' ? 'Retry' : 'Refresh'}</button>
<button type="button" id="download" title="Download this artifact">Download…</button>
</div>
</header>
<main>
${body(state)}
</main>
<script nonce="${nonceAttr}">${SCRIPT}</script>
</body>
</html>
`;
}

function body(state: PreviewState): string {
  switch (state.state) {
    case 'loading':
      return '<div class="loading" role="status"><span class="spinner" aria-hidden="true"></span>Loading preview…</div>';
    case 'error':
      return `<div class="error" role="alert"><h2>The preview failed</h2><p class="message">${escapeHtml(state.message)}</p><p>Press <strong>Retry</strong> to ask again.</p></div>`;
    case 'ready':
      return readyBody(state.preview);
  }
}

function readyBody(preview: Preview): string {
  return [
    `<p class="summary">${escapeHtml(preview.summary)}</p>`,
    verdictBanner(preview.safety.verdict, preview.safety.findings),
    `<article class="markdown">${renderMarkdown(preview.markdown)}</article>`,
    footer(preview),
  ].join('\n');
}

const VERDICTS = {
  safe: { label: 'Safe', text: 'Loading this artifact would not import or call any code.' },
  unsafe: {
    label: 'UNSAFE',
    text: 'Loading this file (pickle.load, torch.load, joblib.load…) would run code. Do not load it unless you trust its author.',
  },
  unknown: {
    label: 'Unknown',
    text: 'This file imports globals that are not known to be safe. Review the findings before loading it.',
  },
} as const;

export function verdictBanner(verdict: Preview['safety']['verdict'], findings: readonly Finding[]): string {
  const known = Object.hasOwn(VERDICTS, verdict) ? verdict : 'unknown';
  const { label, text } = VERDICTS[known];
  const items = findings.map(
    (finding) =>
      `<li class="finding severity-${severityClass(finding.severity)}">${escapeHtml(finding.message)}${
        !finding.global ? '' : ` <code>${escapeHtml(finding.global)}</code>`
      }</li>`,
  );
  const list = items.length === 0 ? '' : `<ul class="findings">${items.join('')}</ul>`;
  return `<section class="verdict verdict-${known}" role="${known === 'unsafe' ? 'alert' : 'note'}"><p><strong class="verdict-label">${label}</strong> ${escapeHtml(text)}</p>${list}</section>`;
}

function severityClass(severity: string): string {
  return severity === 'danger' || severity === 'warning' ? severity : 'info';
}

function footer(preview: Preview): string {
  const size = preview.size === undefined ? '' : ` of ${formatBytes(preview.size)}`;
  const read = `Read ${formatBytes(preview.bytesRead)}${size}.`;
  const truncated = preview.truncated
    ? ' <span class="truncated">Truncated: the preview stopped at its byte or time budget, so it does not show everything.</span>'
    : '';
  return `<footer class="${preview.truncated ? 'is-truncated' : ''}">${escapeHtml(read)}${truncated}</footer>`;
}

/** The last path segment of an artifact URI, for the panel title. */
export function displayName(uri: string): string {
  const path = uri.replace(/[?#].*$/, '').replace(/\/+$/, '');
  const segment = path.slice(path.lastIndexOf('/') + 1);
  if (segment === '') {
    return uri;
  }
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}

const escapeAttribute = escapeHtml;

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

// Posts {type} messages for the two buttons (no inline event handlers: the CSP forbids them),
// and keeps the artifact as the webview's state, which VS Code restores the panel from.
const SCRIPT = `
(function () {
  const vscode = acquireVsCodeApi();
  vscode.setState({ uri: document.body.dataset.uri, title: document.body.dataset.title });
  for (const id of ['refresh', 'download']) {
    const button = document.getElementById(id);
    if (button) {
      button.addEventListener('click', () => vscode.postMessage({ type: id }));
    }
  }
})();
`;

const STYLE = `
:root { color-scheme: light dark; }
body {
  font-family: var(--vscode-font-family);
  font-size: var(--vscode-font-size);
  color: var(--vscode-foreground);
  background: var(--vscode-editor-background);
  padding: 0 20px 20px;
  line-height: 1.5;
}
header {
  display: grid;
  grid-template-columns: 1fr auto;
  grid-template-areas: "title actions" "uri actions";
  column-gap: 16px;
  align-items: center;
  padding: 12px 0;
  border-bottom: 1px solid var(--vscode-panel-border, transparent);
}
.title { grid-area: title; margin: 0; font-size: 1.4em; font-weight: 600; overflow-wrap: anywhere; }
.uri {
  grid-area: uri;
  color: var(--vscode-descriptionForeground);
  font-family: var(--vscode-editor-font-family);
  font-size: 0.9em;
  overflow-wrap: anywhere;
}
.actions { grid-area: actions; display: flex; gap: 8px; }
button {
  font: inherit;
  color: var(--vscode-button-foreground);
  background: var(--vscode-button-background);
  border: 1px solid var(--vscode-button-border, transparent);
  border-radius: 2px;
  padding: 4px 12px;
  cursor: pointer;
}
button:hover { background: var(--vscode-button-hoverBackground); }
button:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: 2px; }
button.secondary {
  color: var(--vscode-button-secondaryForeground);
  background: var(--vscode-button-secondaryBackground);
}
button.secondary:hover { background: var(--vscode-button-secondaryHoverBackground); }
.summary { font-size: 1.1em; margin: 16px 0 8px; }
.verdict {
  margin: 12px 0;
  padding: 8px 12px;
  border-left: 4px solid;
  border-radius: 2px;
}
.verdict p { margin: 0; }
.verdict-safe {
  border-color: var(--vscode-testing-iconPassed, #388a34);
  background: var(--vscode-textBlockQuote-background);
}
.verdict-safe .verdict-label { color: var(--vscode-testing-iconPassed, #388a34); }
.verdict-unsafe {
  border-color: var(--vscode-errorForeground);
  background: var(--vscode-inputValidation-errorBackground);
}
.verdict-unsafe .verdict-label { color: var(--vscode-errorForeground); }
.verdict-unknown {
  border-color: var(--vscode-editorWarning-foreground);
  background: var(--vscode-inputValidation-warningBackground);
}
.verdict-unknown .verdict-label { color: var(--vscode-editorWarning-foreground); }
.findings { margin: 6px 0 0; padding-left: 20px; }
.finding.severity-danger::marker { color: var(--vscode-errorForeground); }
.finding.severity-warning::marker { color: var(--vscode-editorWarning-foreground); }
.markdown { overflow-wrap: anywhere; }
.markdown img {
  display: block;
  max-width: 100%;
  min-width: 96px;
  height: auto;
  image-rendering: pixelated;
  margin: 8px 0;
  border: 1px solid var(--vscode-panel-border, transparent);
}
code, pre {
  font-family: var(--vscode-editor-font-family);
  font-size: var(--vscode-editor-font-size);
}
code { background: var(--vscode-textCodeBlock-background); padding: 1px 4px; border-radius: 3px; }
pre { background: var(--vscode-textCodeBlock-background); padding: 8px 12px; overflow: auto; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--vscode-panel-border, rgba(128, 128, 128, 0.35)); padding: 2px 8px; text-align: left; }
th:empty { display: none; }
.align-right { text-align: right; }
.align-center { text-align: center; }
hr { border: 0; border-top: 1px solid var(--vscode-panel-border, rgba(128, 128, 128, 0.35)); }
a { color: var(--vscode-textLink-foreground); }
footer {
  margin-top: 20px;
  padding-top: 8px;
  border-top: 1px solid var(--vscode-panel-border, rgba(128, 128, 128, 0.35));
  color: var(--vscode-descriptionForeground);
  font-size: 0.9em;
}
.truncated { color: var(--vscode-editorWarning-foreground); }
.loading { display: flex; align-items: center; gap: 8px; margin: 24px 0; color: var(--vscode-descriptionForeground); }
.spinner {
  width: 14px;
  height: 14px;
  border: 2px solid var(--vscode-progressBar-background);
  border-right-color: transparent;
  border-radius: 50%;
  animation: spin 0.8s linear infinite;
}
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .spinner { animation: none; } }
.error {
  margin: 16px 0;
  padding: 8px 12px;
  border-left: 4px solid var(--vscode-errorForeground);
  background: var(--vscode-inputValidation-errorBackground);
}
.error h2 { margin: 0 0 4px; font-size: 1.1em; color: var(--vscode-errorForeground); }
.error .message { white-space: pre-wrap; font-family: var(--vscode-editor-font-family); margin: 0 0 4px; }
`;
