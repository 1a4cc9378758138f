/**
 * An object whose implementation can be replaced while others hold it: the
 * boot face and the logger after a reload (SIGHUP). Every property read goes
 * to the current one; methods are bound to it, so classes with private fields
 * work through it.
 */
export interface Swappable<T extends object> {
  /** Hand this out: it always acts as the current value. */
  readonly value: T;
  set(next: T): void;
  current(): T;
}

export function swappable<T extends object>(initial: T): Swappable<T> {
  let current = initial;
  const value = new Proxy({} as T, {
    get(_target, key) {
      const v: unknown = Reflect.get(current, key, current);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(current) : v;
    },
    has: (_target, key) => Reflect.has(current, key),
  });
  return { value, set: (next) => void (current = next), current: () => current };
}
