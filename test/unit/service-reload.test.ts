/** What a reload takes and what it leaves to a restart (service/reload.ts), and the swap under held references. */
import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/load.ts';
import { defaultConfig } from '../../src/service/paths.ts';
import { planReload } from '../../src/service/reload.ts';
import { swappable } from '../../src/service/swappable.ts';
import { defaultStatePath } from '../../src/commands/service.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('planReload', () => {
  const old = loadServeConfig({ menuTitle: 'A', tftpPort: 69 }, {});

  it('applies menu and log keys, lists the others as needing a restart, keeps their old values in effect', () => {
    const next = loadServeConfig({ menuTitle: 'B', menuTimeout: 30, logLevel: 'debug', tftpPort: 6969, interface: 'eth1', dns: ['10.0.0.1'] }, {});
    const plan = planReload(old, next);
    expect(plan.applied).toEqual(['logLevel', 'menuTimeout', 'menuTitle']);
    expect(plan.restart).toEqual(['dns', 'interface', 'tftpPort']);
    expect([plan.effective.menuTitle, plan.effective.menuTimeout, plan.effective.logLevel]).toEqual(['B', 30, 'debug']);
    expect([plan.effective.tftpPort, plan.effective.interface, plan.effective.dns]).toEqual([69, undefined, []]);
  });

  it('an unchanged configuration changes nothing; a removed reloadable key goes back to unset', () => {
    expect(planReload(old, old)).toMatchObject({ applied: [], restart: [] });
    const withTemplates = loadServeConfig({ menuTitle: 'A', tftpPort: 69, menuTemplates: '/etc/netrestore/menus' }, {});
    const plan = planReload(withTemplates, old);
    expect(plan.applied).toEqual(['menuTemplates']);
    expect('menuTemplates' in plan.effective).toBe(false);
  });
});

describe('swappable', () => {
  it('a held reference acts as the current value, private fields included', () => {
    class Greeter {
      readonly #word: string;
      constructor(word: string) {
        this.#word = word;
      }
      greet(name: string): string {
        return `${this.#word} ${name}`;
      }
    }
    const s = swappable(new Greeter('hello'));
    const held = s.value;
    expect(held.greet('a')).toBe('hello a');
    s.set(new Greeter('bye'));
    expect(held.greet('a')).toBe('bye a');
  });
});

describe('the installed default configuration', () => {
  it('validates against the schema', () => {
    const c = loadServeConfig(defaultConfig(), {});
    expect(c.state).toBe('/var/lib/netrestore/netrestore.db');
  });
});

describe('defaultStatePath', () => {
  it("is the installed configuration's state under NETRESTORE_CONFIG, else a checkout's netrestore.db", () => {
    const dir = mkdtempSync(join(tmpdir(), 'nr-state-path-'));
    try {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify(defaultConfig()));
      expect(defaultStatePath({ NETRESTORE_CONFIG: file })).toBe('/var/lib/netrestore/netrestore.db');
      expect(defaultStatePath({})).toBe('netrestore.db');
      expect(defaultStatePath({ NETRESTORE_CONFIG: join(dir, 'missing.json') })).toBe('netrestore.db');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
