/** A strict reader of the CEF lines we write (test-only): header fields and extension key=value pairs. */
export function parseCef(line: string): { header: string[]; extension: Record<string, string> } {
  const header: string[] = [];
  let field = '';
  let i = 0;
  for (; i < line.length && header.length < 7; i++) {
    const c = line[i]!;
    if (c === '\\') field += line[++i];
    else if (c === '|') {
      header.push(field);
      field = '';
    } else field += c;
  }
  const ext = line.slice(i);
  // Unescaped '=' separate keys from values; a key is the word just before its '='.
  const equals: number[] = [];
  for (let j = 0; j < ext.length; j++) {
    if (ext[j] === '\\') j++;
    else if (ext[j] === '=') equals.push(j);
  }
  const extension: Record<string, string> = {};
  const keyStart = (eq: number) => ext.lastIndexOf(' ', eq) + 1;
  equals.forEach((eq, k) => {
    const key = ext.slice(keyStart(eq), eq);
    const end = k + 1 < equals.length ? keyStart(equals[k + 1]!) - 1 : ext.length;
    extension[key] = ext
      .slice(eq + 1, end)
      .replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch === 'r' ? '\r' : ch));
  });
  return { header, extension };
}
