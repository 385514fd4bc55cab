// Preview markdown → HTML for the preview panel. No `vscode` import: unit-testable.
//
// Two lines of defence before the webview's Content-Security-Policy: markdown-it runs with
// raw HTML off (any `<tag>` in the markdown comes out as text), and its output then passes
// an allowlist that keeps only known tags with known attributes: images only as base64
// `data:image/…` URIs, links only to http(s). Everything else is escaped.
import MarkdownIt from 'markdown-it';

const markdownIt = new MarkdownIt({ html: false, linkify: false, typographer: false });

export function renderMarkdown(markdown: string): string {
  return sanitizeHtml(markdownIt.render(markdown));
}

const TAGS = new Set([
  'p', 'br', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'strong', 'em', 's', 'del', 'code', 'pre',
  'blockquote', 'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'a', 'img',
]);
const VOID_TAGS = new Set(['br', 'hr', 'img']);

/** A base64 raster image; no SVG (it can carry script), no remote or local URIs. */
export const DATA_IMAGE = /^data:image\/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$/;
const HTTP_LINK = /^https?:\/\/[^\s"'<>`]+$/i;
const ALIGN = /^text-align:\s*(left|right|center)$/;

// A start or end tag as markdown-it writes them: lower-case names, double-quoted values.
const TAG = /<(\/?)([a-z][a-z0-9]*)((?:\s+[a-z][a-z-]*(?:="[^"<>]*")?)*)\s*\/?>/g;
const ATTRIBUTE = /([a-z][a-z-]*)(?:="([^"<>]*)")?/g;
const ENTITY = /^&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});/i;

/** Keeps the allowlisted tags and attributes of `html`; escapes everything else. */
export function sanitizeHtml(html: string): string {
  let out = '';
  let last = 0;
  for (const match of html.matchAll(TAG)) {
    out += escapeText(html.slice(last, match.index));
    last = match.index + match[0].length;
    const [whole, closing = '', name = '', attributes = ''] = match;
    if (!TAGS.has(name) || (closing !== '' && VOID_TAGS.has(name))) {
      out += escapeText(whole);
    } else if (closing !== '') {
      out += `</${name}>`;
    } else {
      out += openTag(name, attributes) ?? '';
    }
  }
  return out + escapeText(html.slice(last));
}

function openTag(name: string, attributes: string): string | undefined {
  const kept: string[] = [];
  for (const [, key = '', value = ''] of attributes.matchAll(ATTRIBUTE)) {
    const attribute = keepAttribute(name, key, value);
    if (attribute !== undefined) {
      kept.push(attribute);
    }
  }
  if (name === 'img' && !kept.some((attribute) => attribute.startsWith('src='))) {
    return undefined; // an image that may not load is left out altogether
  }
  return `<${name}${kept.map((attribute) => ` ${attribute}`).join('')}>`;
}

function keepAttribute(tag: string, key: string, value: string): string | undefined {
  const attribute = (k: string, v: string) => `${k}="${escapeText(v).replaceAll('"', '&quot;')}"`;
  switch (`${tag}.${key}`) {
    case 'img.src':
      return DATA_IMAGE.test(value) ? attribute('src', value) : undefined;
    case 'img.alt':
    case 'img.title':
    case 'a.title':
      return attribute(key, value);
    case 'a.href':
      return HTTP_LINK.test(value) ? attribute('href', value) : undefined;
    case 'ol.start':
      return /^\d{1,9}$/.test(value) ? attribute('start', value) : undefined;
    case 'code.class':
      return /^language-[\w+-]{1,40}$/.test(value) ? attribute('class', value) : undefined;
    case 'th.style':
    case 'td.style': {
      // Inline styles are blocked by the CSP: table alignment becomes a class.
      const align = ALIGN.exec(value)?.[1];
      return align === undefined ? undefined : attribute('class', `align-${align}`);
    }
    default:
      return undefined;
  }
}

/** Escapes `<`, `>` and any `&` that does not start a character reference. */
function escapeText(text: string): string {
  return text.replace(/[<>]|&/g, (char, offset: number) => {
    if (char === '<') {
      return '&lt;';
    }
    if (char === '>') {
      return '&gt;';
    }
    return ENTITY.test(text.slice(offset, offset + 40)) ? '&' : '&amp;';
  });
}
