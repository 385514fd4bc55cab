import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Preview } from '../../extension/common/protocol';
import {
  contentSecurityPolicy,
  displayName,
  type DocumentContext,
  isPanelMessage,
  previewDocument,
  savedPanel,
  verdictBanner,
} from '../../extension/preview/html';
import { renderMarkdown, sanitizeHtml } from '../../extension/preview/markdown';

const NONCE = 'q3Xz0aB9cD8eF7gH6iJ5kL4m';
const CSP_SOURCE = 'https://*.vscode-cdn.net';
const HOSTILE = '<img src=x onerror=alert(1)>';
const SCRIPT = '<script>alert(1)</script>';
// A 1×1 PNG, as the server writes thumbnails.
const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

const CONTEXT: DocumentContext = {
  uri: 'file:///ws/outputs/model.pkl',
  title: 'model.pkl',
  nonce: NONCE,
  cspSource: CSP_SOURCE,
};

function preview(fields: Partial<Preview> = {}): Preview {
  return {
    uri: CONTEXT.uri,
    kind: 'pickle',
    summary: 'Pickle (protocol 4) · 189 B',
    markdown: '**model\\.pkl** · Pickle \\(protocol 4\\) · 189 B',
    safety: { verdict: 'safe', findings: [] },
    bytesRead: 189,
    truncated: false,
    size: 189,
    ...fields,
  };
}

function ready(fields: Partial<Preview> = {}): string {
  return previewDocument(CONTEXT, { state: 'ready', preview: preview(fields) });
}

/** Every start tag of `html` with its attributes. */
function tags(html: string): string[] {
  return [...html.matchAll(/<[a-z][^>]*>/gi)].map((match) => match[0]);
}

/** Checks that nothing in `html` could run script or load a resource from elsewhere. */
function assertInert(html: string): void {
  for (const tag of tags(html)) {
    // Attribute names outside quoted values (escaping keeps a value from closing its quotes).
    const names = tag.replace(/"[^"]*"/g, '""');
    assert.doesNotMatch(names, /\son[a-z]+\s*=/i, `event handler attribute in ${tag}`);
    assert.doesNotMatch(tag, /javascript:/i, `javascript: URL in ${tag}`);
    const src = /\ssrc="([^"]*)"/.exec(tag)?.[1];
    if (src !== undefined) {
      assert.match(src, /^data:image\/(png|jpeg|gif|webp);base64,/, `image source ${src}`);
    }
  }
  const scripts = html.match(/<script\b[^>]*>/gi) ?? [];
  for (const script of scripts) {
    assert.equal(script, `<script nonce="${NONCE}">`);
  }
  assert.ok(scripts.length <= 1, 'at most one script: the document’s own');
}

describe('previewDocument: Content-Security-Policy', () => {
  const html = ready();
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/
    .exec(html)?.[1]
    ?.replaceAll('&#39;', "'");

  it('has a CSP meta tag before any style or script', () => {
    assert.ok(csp !== undefined, 'no CSP meta tag');
    assert.ok(html.indexOf('Content-Security-Policy') < html.indexOf('<style'));
    assert.ok(html.indexOf('Content-Security-Policy') < html.indexOf('<script'));
  });
  it('allows nothing by default, no network, scripts and styles only with the nonce', () => {
    const policy = contentSecurityPolicy(NONCE, CSP_SOURCE);
    assert.equal(csp, policy);
    const directives = new Map(
      policy.split(';').map((d) => {
        const [name = '', ...values] = d.trim().split(/\s+/);
        return [name, values] as const;
      }),
    );
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('script-src'), [`'nonce-${NONCE}'`]);
    assert.deepEqual(directives.get('style-src'), [CSP_SOURCE, `'nonce-${NONCE}'`]);
    assert.deepEqual(directives.get('img-src'), ['data:', CSP_SOURCE]);
    assert.ok(!policy.includes('unsafe-inline'));
    assert.ok(!policy.includes('unsafe-eval'));
  });
  it('puts the nonce on every script and style element', () => {
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    const styles = html.match(/<style\b[^>]*>/g) ?? [];
    assert.deepEqual(scripts, [`<script nonce="${NONCE}">`]);
    assert.deepEqual(styles, [`<style nonce="${NONCE}">`]);
    assertInert(html);
  });
  it('has no inline event handlers or inline styles', () => {
    for (const state of [ready(), previewDocument(CONTEXT, { state: 'loading' })]) {
      for (const tag of tags(state)) {
        assert.doesNotMatch(tag, /\s(on[a-z]+|style)=/i, tag);
      }
    }
  });
});

describe('previewDocument: escaping', () => {
  it('escapes hostile summary, title, URI and findings', () => {
    const context = { ...CONTEXT, title: HOSTILE, uri: `file:///ws/${SCRIPT}"'.pkl` };
    const html = previewDocument(context, {
      state: 'ready',
      preview: preview({
        summary: `Pickle ${HOSTILE}`,
        safety: {
          verdict: 'unsafe',
          findings: [{ severity: 'danger', message: `calls ${HOSTILE}`, global: `${SCRIPT}.system` }],
        },
      }),
    });
    assert.ok(!html.includes(HOSTILE));
    assert.ok(!html.includes(SCRIPT));
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
    assert.ok(html.includes('<code>&lt;script&gt;alert(1)&lt;/script&gt;.system</code>'));
    assert.ok(html.includes('<title>&lt;img src=x onerror=alert(1)&gt;</title>'));
    assert.ok(html.includes('title="file:///ws/&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;.pkl"'));
    assertInert(html);
  });
  it('escapes a hostile error message', () => {
    const html = previewDocument(CONTEXT, { state: 'error', message: `not found: ${HOSTILE}` });
    assert.ok(!html.includes(HOSTILE));
    assert.ok(html.includes('not found: &lt;img src=x onerror=alert(1)&gt;'));
    assertInert(html);
  });
  it('keeps raw HTML in the markdown as text, should the server ever let one through', () => {
    const markdown = [
      HOSTILE,
      SCRIPT,
      '<iframe src="https://evil.example"></iframe>',
      '[click](javascript:alert(1))',
      '![remote](https://evil.example/track.png)',
      '![local](file:///etc/passwd)',
      '![svg](data:image/svg+xml;base64,PHN2Zz48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+PC9zdmc+)',
      '<a href="javascript:alert(1)">x</a> <b onmouseover="alert(1)">bold</b>',
    ].join('\n\n');
    const html = ready({ markdown });
    assertInert(html);
    assert.ok(!html.includes('<iframe'));
    assert.ok(!html.includes('evil.example/track.png"'));
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  });
});

describe('previewDocument: content', () => {
  it('renders the server markdown: emphasis, code spans, lists, tables', () => {
    const html = ready({
      markdown:
        '**evil\\.pkl** · Pickle\n\n⛔ **UNSAFE**: loading this file would run code\n\n- imports posix\\.system\n\n**imports** `posix.system`\n\n| name | value |\n|---|--:|\n| a\\_b | 0\\.5 |',
    });
    assert.ok(html.includes('<strong>evil.pkl</strong>'));
    assert.ok(html.includes('<li>imports posix.system</li>'));
    assert.ok(html.includes('<code>posix.system</code>'));
    assert.ok(html.includes('<td>a_b</td>'));
    assert.ok(html.includes('<td class="align-right">0.5</td>'));
  });
  it('renders a data: thumbnail as an image', () => {
    const html = ready({ kind: 'png', markdown: `**cat\\_01\\.png** · PNG image\n\n![thumbnail](${PNG})` });
    assert.ok(html.includes(`<img src="${PNG}" alt="thumbnail">`), html);
    assertInert(html);
  });
  it('shows the summary line', () => {
    assert.ok(ready().includes('<p class="summary">Pickle (protocol 4) · 189 B</p>'));
  });
  it('has Refresh and Download buttons, and Retry after an error', () => {
    const html = ready();
    assert.match(html, /<button type="button" id="refresh"[^>]*>Refresh<\/button>/);
    assert.match(html, /<button type="button" id="download"[^>]*>Download…<\/button>/);
    const failed = previewDocument(CONTEXT, { state: 'error', message: 'boom' });
    assert.match(failed, /<button type="button" id="refresh"[^>]*>Retry<\/button>/);
    assert.match(failed, /class="error" role="alert"/);
  });
  it('shows a loading state', () => {
    const html = previewDocument(CONTEXT, { state: 'loading' });
    assert.match(html, /<body class="state-loading"/);
    assert.match(html, /role="status"[^>]*>.*Loading preview…/);
  });
});

describe('verdict banner', () => {
  it('has a class per verdict', () => {
    assert.match(ready(), /<section class="verdict verdict-safe" role="note">/);
    assert.match(
      ready({ safety: { verdict: 'unsafe', findings: [] } }),
      /<section class="verdict verdict-unsafe" role="alert"><p><strong class="verdict-label">UNSAFE<\/strong>/,
    );
    assert.match(ready({ safety: { verdict: 'unknown', findings: [] } }), /class="verdict verdict-unknown"/);
  });
  it('treats a verdict it does not know as unknown', () => {
    const banner = verdictBanner('maybe' as Preview['safety']['verdict'], []);
    assert.match(banner, /class="verdict verdict-unknown"/);
    assert.ok(!banner.includes('maybe'));
  });
  it('lists the findings with their severity and global', () => {
    const banner = verdictBanner('unsafe', [
      { severity: 'danger', message: 'imports posix.system, which can run code', global: 'posix.system' },
      { severity: 'warning', message: 'imports mylib.Model, not known to be safe' },
      { severity: 'bogus' as 'info', message: 'x' },
      { severity: 'warning', message: 'truncated pickle', global: null, call: null },
    ]);
    assert.ok(
      banner.includes(
        '<li class="finding severity-danger">imports posix.system, which can run code <code>posix.system</code></li>',
      ),
    );
    assert.ok(banner.includes('<li class="finding severity-warning">imports mylib.Model, not known to be safe</li>'));
    assert.ok(banner.includes('<li class="finding severity-info">x</li>'));
    assert.ok(banner.includes('<li class="finding severity-warning">truncated pickle</li>')); // the server sends null
    assert.ok(!verdictBanner('safe', []).includes('<ul'));
  });
});

describe('footer', () => {
  it('reports the bytes read and the size', () => {
    const html = ready({ bytesRead: 3 * 1024, size: 445 * 1024 * 1024 });
    assert.ok(html.includes('<footer class="">Read 3.0 KiB of 445.0 MiB.</footer>'));
  });
  it('says when the preview was truncated', () => {
    const html = ready({ bytesRead: 4 * 1024 * 1024, truncated: true, size: undefined });
    assert.match(html, /<footer class="is-truncated">Read 4\.0 MiB\. <span class="truncated">Truncated:/);
    assert.ok(!ready().includes('Truncated'));
  });
});

describe('sanitizeHtml', () => {
  it('keeps allowlisted tags and drops their other attributes', () => {
    assert.equal(sanitizeHtml('<p id="x" class="y">a</p>'), '<p>a</p>');
    assert.equal(sanitizeHtml('<a href="https://learn.microsoft.com/azure" title="t">d</a>'), '<a href="https://learn.microsoft.com/azure" title="t">d</a>');
    assert.equal(sanitizeHtml('<a href="command:workbench.action.reloadWindow">d</a>'), '<a>d</a>');
    assert.equal(sanitizeHtml('<pre><code class="language-python">x</code></pre>'), '<pre><code class="language-python">x</code></pre>');
  });
  it('escapes tags that are not allowlisted, comments and stray brackets', () => {
    assert.equal(sanitizeHtml('<svg onload="alert(1)"></svg>'), '&lt;svg onload="alert(1)"&gt;&lt;/svg&gt;');
    assert.equal(sanitizeHtml('<!-- x --> a < b > c'), '&lt;!-- x --&gt; a &lt; b &gt; c');
    assert.equal(sanitizeHtml('<p>a &amp; b & c &#60; &lt;</p>'), '<p>a &amp; b &amp; c &#60; &lt;</p>');
  });
  it('drops images that are not base64 raster data URIs', () => {
    assert.equal(sanitizeHtml('<img src="https://example.invalid/x.png" alt="x">'), '');
    assert.equal(sanitizeHtml('<img src="data:image/svg+xml;base64,AAAA" alt="x">'), '');
    assert.equal(sanitizeHtml(`<img src="${PNG}" alt="t" onerror="x">`), `<img src="${PNG}" alt="t">`);
  });
  it('agrees with markdown-it on a whole document', () => {
    const html = renderMarkdown('# T\n\n1. a\n2. b\n\n> q\n\n---\n\n```\ncode <x>\n```');
    assert.equal(html, '<h1>T</h1>\n<ol>\n<li>a</li>\n<li>b</li>\n</ol>\n<blockquote>\n<p>q</p>\n</blockquote>\n<hr>\n<pre><code>code &lt;x&gt;\n</code></pre>\n');
  });
});

describe('displayName', () => {
  it('is the last path segment', () => {
    assert.equal(displayName('file:///ws/outputs/model%20v2.pkl'), 'model v2.pkl');
    assert.equal(displayName('azureml://datastores/ds/paths/data/train.h5'), 'train.h5');
    assert.equal(displayName('runs:/abc/outputs/'), 'outputs');
    assert.equal(displayName('/tmp/x.pt'), 'x.pt');
  });
  it('falls back to the whole URI', () => {
    assert.equal(displayName('azureml:simple-torch-model:2'), 'azureml:simple-torch-model:2');
    assert.equal(displayName('file:///ws/%E0%A4%A.pkl'), '%E0%A4%A.pkl');
  });
});

describe('isPanelMessage', () => {
  it('accepts the two button messages only', () => {
    assert.ok(isPanelMessage({ type: 'refresh' }));
    assert.ok(isPanelMessage({ type: 'download' }));
    assert.ok(!isPanelMessage({ type: 'eval' }));
    assert.ok(!isPanelMessage(null));
    assert.ok(!isPanelMessage('refresh'));
  });
});

describe('savedPanel (a panel restored after a window reload)', () => {
  it('takes the saved artifact, naming it from its URI when the title is missing', () => {
    assert.deepEqual(savedPanel({ uri: 'azureml://datastores/d/paths/a/model.pt', title: 'model.pt' }), {
      uri: 'azureml://datastores/d/paths/a/model.pt',
      title: 'model.pt',
    });
    assert.deepEqual(savedPanel({ uri: 'file:///w/data.h5' }), { uri: 'file:///w/data.h5', title: 'data.h5' });
  });

  it('restores nothing from a missing, empty, wrongly typed or oversized state', () => {
    for (const state of [undefined, null, 'x', {}, { uri: '' }, { uri: 42 }, { uri: 'a'.repeat(9000) }]) {
      assert.equal(savedPanel(state), undefined);
    }
  });

  it('the document saves its artifact as webview state, escaped', () => {
    const html = previewDocument(
      { uri: 'file:///w/"x".pkl', title: '<b>x</b>', nonce: NONCE, cspSource: CSP_SOURCE },
      { state: 'loading' },
    );
    assert.match(html, /data-uri="file:\/\/\/w\/&quot;x&quot;\.pkl"/);
    assert.match(html, /data-title="&lt;b&gt;x&lt;\/b&gt;"/);
    assert.match(html, /vscode\.setState\(\{ uri: document\.body\.dataset\.uri/);
  });
});
