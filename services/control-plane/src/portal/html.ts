/** HTML with every interpolated value escaped unless it is already `Html` (built by `html`). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Part = Html | string | number | null | undefined | false | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.text;
  if (typeof part === 'string' || typeof part === 'number') return escapeHtml(part);
  return part.map(render).join('');
}

/** Tagged template: `html\`<p>${untrusted}</p>\`` escapes `untrusted`. */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return new Html(out);
}

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1a1a1a;background:#f6f7f9}
header{background:#1f2a44;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:center}
header a{color:#fff}header nav{display:flex;gap:1rem;flex:1}
main{max-width:70rem;margin:1.2rem auto;padding:0 1.2rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #dde;vertical-align:top}
th{background:#eef0f4}code,.digest{font-family:ui-monospace,monospace;font-size:.85em;word-break:break-all}
dl{display:grid;grid-template-columns:12rem 1fr;gap:.3rem 1rem;background:#fff;padding:1rem;border:1px solid #dde}dt{font-weight:600}dd{margin:0}
form.decide{background:#fff;border:1px solid #dde;padding:1rem;margin-top:1rem}
label{display:block;font-weight:600;margin:.4rem 0 .2rem}textarea,input,select{font:inherit;padding:.35rem;max-width:100%}
textarea{width:100%;min-height:5rem}
button{font:inherit;padding:.45rem 1.1rem;margin:.6rem .6rem 0 0;border:0;border-radius:4px;cursor:pointer}
button.approve{background:#1b7a3a;color:#fff}button.reject{background:#b3261e;color:#fff}button.plain{background:#dde}
:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
.status{font-weight:600;text-transform:uppercase;font-size:.85em}.notice{background:#fff4d6;border:1px solid #e8c66a;padding:.6rem 1rem}
.error{background:#fde7e7;border:1px solid #d99;padding:.6rem 1rem}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;color:#000;padding:.4rem}
`;

export interface PageUser {
  principal: string;
  tenantId: string;
  csrf: string;
}

/** A whole page: header with navigation and sign-out, then the body. */
export function page(p: { title: string; user?: PageUser | undefined; body: Html }): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${p.title} · stepgate</title>
        <style>
          ${new Html(STYLE)}
        </style>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <strong>stepgate</strong>
          ${
            p.user
              ? html`<nav aria-label="Main"><a href="/approvals">Approvals</a><a href="/audit">Audit</a></nav>
                  <span>${p.user.principal} · ${p.user.tenantId}</span>
                  <form method="post" action="/logout">
                    <input type="hidden" name="_csrf" value="${p.user.csrf}" /><button class="plain" type="submit">
                      Sign out
                    </button>
                  </form>`
              : ''
          }
        </header>
        <main id="main">
          <h1>${p.title}</h1>
          ${p.body}
        </main>
      </body>
    </html> `.text;
}
