/**
 * The F12 path as a person types it, in one table: what each screen says
 * (the text the drill waits for) and the keys pressed there. A prompt whose
 * text changes makes its step fail with the step's name and the screen the
 * drill saw instead. The screens are iPXE's menu and login form, the
 * service's messages (src/menus/), and the agent's console
 * (src/restore-agent/console/screens.ts). Pure.
 */
import { KEY, loginForm, typed, type TypedStep } from './serial-keys.ts';

/** How long a screen may take: the answer to a key, a boot over the network, a long job. */
export type Wait = 'key' | 'boot' | 'work';

/** What the drill verifies beyond the screen once a step's keys are pressed (typed.ts does it). */
export type Check = 'login-refused' | 'password-hidden' | 'disk-untouched' | 'vm-reboots';

export interface Step extends TypedStep<Wait> {
  check?: Check;
}

export interface TypedContext {
  image: string;
  user: string;
  password: string;
  wrongPassword: string;
  /** The image's role asks for a second confirmation in the menu (domain controller, Exchange). */
  roleWarning: boolean;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * iPXE's menu, drawn to its end (the countdown of the default entry runs):
 * the block of images between the two headings, one item a line.
 */
const MENU = /Restore an image \(login required\):[^\n]*\n([\s\S]*?)\n[ \t]*Other:[\s\S]*?\(\d+\)/;

/** Home (the first image), Down to `image`'s line, Enter. */
export function chooseImage(menu: RegExpExecArray, image: string): string[] {
  const items = (menu[1] ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  const i = items.findIndex((l) => l === image || l.startsWith(`${image} `));
  if (i < 0) throw new Error(`the menu does not list ${image} among ${items.length} image line(s)`);
  return [KEY.home, ...Array<string>(i).fill(KEY.down), KEY.enter];
}

/** iPXE's login form: both fields are on the screen at once. */
const LOGIN = /Username:[^\n]*\n[\s\S]*?Password:/;
/** The agent's disk list, its prompt empty. */
const DISKS = (image: string) => new RegExp(`Restore ${esc(image)}: which disk\\?[\\s\\S]*? Disk number: \\n`);
/** The agent's confirmation: the disk's name is on the screen, the prompt empty. */
const CONFIRM = /type the disk's name \((\S+)\) and press Enter; Enter alone goes back\.[\s\S]*? Disk name: \n/;

export function typedRestoreSteps(c: TypedContext): Step[] {
  const role: Step[] = c.roleWarning ? [{ name: 'menu-confirm-role', does: 'the role warning asks for y', screen: /Press y to restore \S+ anyway/, keys: ['y'], wait: 'key' }] : [];
  return [
    { name: 'menu-choose-image', does: "the boot menu lists the image: Home, Down to it, Enter", screen: MENU, keys: (m) => chooseImage(m, c.image), wait: 'boot' },
    ...role,
    { name: 'login-wrong-password', does: 'the login form: the user and a wrong password', screen: LOGIN, keys: loginForm(c.user, c.wrongPassword), wait: 'key' },
    { name: 'login-refused', does: 'the service refuses the login', screen: /Wrong user name or password/, keys: [], wait: 'key', check: 'login-refused' },
    { name: 'menu-comes-back', does: 'the menu again: the image once more', screen: MENU, keys: (m) => chooseImage(m, c.image), wait: 'key' },
    ...role.map((s) => ({ ...s, name: `${s.name}-again` })),
    { name: 'login', does: 'the login form, filled in with the last attempt: the user and the password', screen: LOGIN, keys: loginForm(c.user, c.password), wait: 'key' },
    { name: 'choose-disk', does: "the environment boots, the agent lists the disks: the first", screen: DISKS(c.image), keys: [...typed('1'), KEY.enter], wait: 'boot', check: 'password-hidden' },
    { name: 'disk-name-enter-alone', does: 'the confirmation: Enter alone goes back', screen: CONFIRM, keys: [KEY.enter], wait: 'key' },
    { name: 'disks-come-back', does: 'the disk list again, nothing written: the first disk', screen: DISKS(c.image), keys: [...typed('1'), KEY.enter], wait: 'key', check: 'disk-untouched' },
    { name: 'type-disk-name', does: 'the confirmation: the name it shows, Enter', screen: CONFIRM, keys: (m) => [...typed(m[1]!), KEY.enter], wait: 'key' },
    { name: 'restore', does: 'the progress, then the result', screen: new RegExp(`DONE: ${esc(c.image)} restored to \\S+`), keys: [], wait: 'work' },
    { name: 'enter-reboots', does: 'Enter at the end reboots', screen: /press Enter to reboot[^\n]*\n/, keys: [KEY.enter], wait: 'key', check: 'vm-reboots' },
  ];
}
