/**
 * Templates are safe by default: every {{value}} is escaped for the
 * template's language, a raw insertion is explicit, and every branch of the
 * iPXE templates that takes user text is checked with hostile text.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { httpTransport, tftpTransport } from '../../src/menus/boot-face.ts';
import { kernelCmdline, menuContext, type ImageSummary } from '../../src/menus/boot-plan.ts';
import { createRenderer, grubText, htmlText, ipxeText, Renderer } from '../../src/menus/render.ts';

const EVIL = 'x ${net0/ip} || shell && reboot ; chain http://evil/\\\n#comment\r\n:label\tend\u0000\u00e9';
const MAC = '52:54:00:12:34:56';
const settings = { title: EVIL, timeoutSeconds: 10, defaultEntry: 'local', kernel: 'vmlinuz', initrd: 'initrd.img' };
const image = (o: Partial<ImageSummary> = {}): ImageSummary => ({ name: 'fs01', description: EVIL, created: '2026-11-24T10:00:00.000Z', role: 'domain-controller', warnings: [EVIL, 'second'], source: { size: 1024 }, ...o });

/** What iPXE could read as syntax in a line that came from a value: nothing but the template's own. */
function assertNoInjection(script: string, allowed: string[]): void {
  const lines = script.split('\n');
  for (const line of lines) {
    const stripped = allowed.reduce((l, a) => l.split(a).join(''), line);
    expect(stripped, line).not.toMatch(/\$\{|\|\||&&|(^|\s);(\s|$)|\\$|[\r\0]/);
  }
  // The hostile text never starts a line of its own (a new command, label or comment).
  expect(lines.filter((l) => /^(chain http:\/\/evil|:label|#comment|shell|reboot)/.test(l))).toEqual([]);
}

describe('ipxeText', () => {
  it('takes out what iPXE interprets, and keeps the words', () => {
    expect(ipxeText(EVIL)).toBe('x net0/ip shell reboot chain http://evil/ comment :label end');
    expect(ipxeText('a ${x} || b && c; {d}\nnext')).toBe('a x b c d next');
    expect(ipxeText(':leading: colon')).toBe('leading: colon');
    expect(ipxeText('ends with a backslash\\')).toBe('ends with a backslash');
    expect(ipxeText(undefined)).toBe('');
    expect(ipxeText(42)).toBe('42');
  });
  it('is idempotent, so that escaping twice changes nothing', () => {
    for (const s of [EVIL, ' : :x', 'a  b', '#:#x', '\n:\n$']) expect(ipxeText(ipxeText(s))).toBe(ipxeText(s));
  });
  it('keeps what the scripts need: URLs, MACs, device paths, a kernel command line', () => {
    for (const s of ['http://10.0.0.1:8080/boot', '52:54:00:12:34:56', '/dev/disk/by-id/ata-X_Y-Z', 'console=ttyS0,115200 netrestore.mode=restore']) expect(ipxeText(s)).toBe(s);
  });
});

describe('other escapers', () => {
  it('grubText escapes for a double-quoted GRUB word', () => {
    expect(grubText('a "b" $x `c` \\d\ne')).toBe('a \\"b\\" \\$x \\`c\\` \\\\d e');
  });
  it('htmlText escapes for HTML text and attributes', () => {
    expect(htmlText('<a href="x" onclick=\'y\'>&`</a>')).toBe('&#60;a href&#61;&#34;x&#34; onclick&#61;&#39;y&#39;&#62;&#38;&#96;&#60;/a&#62;');
  });
});

describe('createRenderer', () => {
  const html = createRenderer({ escape: htmlText, dirs: [], extension: '.html.hbs', helpers: { shout: (s: string) => `${s}!` } });
  it('escapes every {{value}} with the chosen escaper: paths, this, @data, literals, helpers, sub-expressions, blocks', () => {
    const ctx = { a: '<b>', list: ['<i>', '"q"'], o: { p: "'" } };
    expect(html.renderSource('{{a}}|{{o.p}}|{{#each list}}{{this}}{{@index}}{{/each}}|{{shout a}}|{{shout (shout a)}}|{{"<lit>"}}|{{#if a}}{{a}}{{else}}no{{/if}}|{{#with o}}{{p}}{{/with}}', ctx))
      .toBe("&#60;b&#62;|&#39;|&#60;i&#62;0&#34;q&#34;1|&#60;b&#62;!|&#60;b&#62;!!|&#60;lit&#62;|&#60;b&#62;|&#39;");
  });
  it('inserts raw only when asked with {{{raw …}}}, and refuses any other triple-stash', () => {
    expect(html.renderSource('{{{raw a}}} {{raw a}}', { a: '<b>' })).toBe('<b> &#60;b&#62;');
    expect(() => html.renderSource('{{{a}}}', { a: '<b>' }, 'page.html.hbs')).toThrow(/page\.html\.hbs line 1: a raw insertion must be written \{\{\{raw value\}\}\}/);
    expect(() => html.renderSource('x\n{{& a}}', { a: '<b>' })).toThrow(/line 2/);
    expect(() => html.renderSource('{{{shout a}}}', { a: '<b>' })).toThrow(/raw insertion/);
  });
  it('escapes missing and null values to nothing, numbers to their digits', () => {
    expect(html.renderSource('[{{nope}}][{{n}}][{{z}}]', { n: null, z: 0 })).toBe('[][][0]');
  });
  it('says which template is missing', () => {
    expect(() => html.render('nothing', {})).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
  it('does not change other Handlebars instances (the console may have its own)', async () => {
    const Handlebars = (await import('handlebars')).default;
    expect(Handlebars.compile('{{a}}')({ a: '<b>' })).toBe('&lt;b&gt;');
  });
});

describe('iPXE templates with hostile text in every branch that takes it', () => {
  const r = new Renderer();
  const http = httpTransport('http://10.0.0.1:8080');
  const allowedUrls = [http.self, http.auth, '${target}', '${netX/mac:hexhyp}', '|| goto start', '|| goto local', '|| goto failed', '|| exit 0', '&& goto img0-confirmed', '|| goto start', '||'];

  it('menu: host name, title, notice, descriptions, DC warnings', () => {
    const text = r.render('menu', { ...menuContext({ mac: MAC, hostName: EVIL, images: [image(), image({ name: 'plain', role: 'generic' as ImageSummary['role'], warnings: [] })], settings, restores: true, notice: EVIL }), ...http });
    assertNoInjection(text, allowedUrls);
    expect(text).toContain(`menu ${ipxeText(`${EVIL} - ${EVIL} ${MAC}`)}`);
    expect(text).toContain(`item --gap ${ipxeText(EVIL)}`);
    expect(text).toContain(`echo ${ipxeText(EVIL)}\necho second`);
    expect(text).toContain(`chain --autofree ${http.auth} || goto start`); // the raw URL, as iPXE must expand it
  });
  it('menu over TFTP without HTTP: the host name and notice still escaped', () => {
    const t = tftpTransport('tftp://10.0.0.1');
    const text = r.render('menu', { ...menuContext({ mac: MAC, hostName: EVIL, images: [image()], settings, restores: false, notice: EVIL }), ...t });
    assertNoInjection(text, [t.self, t.auth, '${target}', '|| goto start', '|| goto local']);
    expect(text).toContain(`chain --autofree ${t.auth} || goto start`);
  });
  it('message: reason and message, with and without the way back', () => {
    for (const back of [true, false]) {
      const text = r.render('message', { self: http.self, reason: EVIL, message: EVIL, delaySeconds: 3, back });
      assertNoInjection(text, [http.self, '||']);
      expect(text).toContain(`echo ${ipxeText(EVIL)}\nsleep 3\n`);
      expect(text.includes(`chain --autofree ${http.self} ||`)).toBe(back);
    }
  });
  it('environment: every value, in the comment, the echo, the kernel line and the failure branch', () => {
    const cmdline = kernelCmdline({ server: { base: 'http://10.0.0.1:8080', token: 'TOKEN' }, mode: 'restore', image: 'fs01' });
    const text = r.render('environment', { ...http, mode: EVIL, mac: EVIL, image: EVIL, task: 3, kernel: EVIL, initrd: EVIL, cmdline: `${cmdline} ${EVIL}` });
    assertNoInjection(text, [http.self, '${netX/mac:hexhyp}', '|| goto failed', '||']);
    expect(text).toContain(`kernel ${http.files}/${ipxeText(EVIL)} initrd=${ipxeText(EVIL)} ${cmdline} ${ipxeText(EVIL)} BOOTIF=01-\${netX/mac:hexhyp} || goto failed`);
  });
  it('chain: the one value is the server URL, inserted raw on purpose', () => {
    expect(r.render('chain', { self: http.self })).toContain(`chain --autofree ${http.self} || exit 0`);
  });
  it("an admin's own template is escaped the same, and a bare triple-stash in it is refused", () => {
    const dir = mkdtempSync(join(tmpdir(), 'nr-render-'));
    writeFileSync(join(dir, 'message.ipxe.hbs'), '#!ipxe\necho {{message}} {{t reason}}\n');
    expect(new Renderer(dir).render('message', { message: EVIL, reason: '${x}' })).toBe(`#!ipxe\necho ${ipxeText(EVIL)} x\n`);
    writeFileSync(join(dir, 'chain.ipxe.hbs'), '#!ipxe\nchain {{{self}}}\n');
    expect(() => new Renderer(dir).render('chain', { self: 'x' })).toThrow(/chain\.ipxe\.hbs line 2: a raw insertion/);
  });
});
