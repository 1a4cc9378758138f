/**
 * The service's signals. SIGHUP: read the configuration again and take what
 * is safe (service/reload.ts); one log line says what was applied and what
 * needs a restart. SIGTERM or SIGINT: stop taking new work, let running
 * transfers finish for up to stopTimeout seconds, say what was cut, exit 0.
 * A second SIGTERM or SIGINT stops at once.
 */
import type { ServeConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Running } from '../serve.ts';

export interface SignalOptions {
  log: Logger;
  /** The configuration as started. */
  config: ServeConfig;
  /** Read the file and flags again, validated (throws as start-up does). */
  reread: () => ServeConfig;
  /** Called with the configuration in effect after a reload (the logger's level). */
  applied: (effective: ServeConfig) => void;
  exit: (code: number) => void;
}

export function handleSignals(running: Running, o: SignalOptions): void {
  let config = o.config;
  let stopping = false;

  process.on('SIGHUP', () => {
    if (stopping) return;
    let next: ServeConfig;
    try {
      next = o.reread();
    } catch (err) {
      o.log.error('serve.reload-failed', { reason: (err as Error).message, note: 'the running configuration is unchanged' });
      return;
    }
    const plan = running.reload(next);
    config = plan.effective;
    o.applied(config);
    o.log.info('serve.reloaded', { applied: plan.applied, needsRestart: plan.restart });
    if (plan.restart.length) o.log.warn('serve.restart-needed', { keys: plan.restart, note: `changed in the configuration but taken only at start: restart the service (systemctl restart netrestore) for ${plan.restart.join(', ')}` });
  });

  const stop = (signal: string) => {
    if (stopping) {
      o.log.warn('serve.stop-forced', { signal, note: 'second signal: running transfers are cut' });
      return o.exit(0);
    }
    stopping = true;
    o.log.info('serve.stopping', { signal, graceSeconds: config.stopTimeout, note: 'no new requests; running transfers may finish' });
    running.stop(config.stopTimeout * 1000).then(
      (cut) => {
        if (cut.length) o.log.warn('serve.cut', { count: cut.length, transfers: cut, note: `still running after ${config.stopTimeout} s; clients retry against the next start` });
        else o.log.info('serve.stopped', { note: 'no transfer was cut' });
        o.exit(0);
      },
      (err: Error) => {
        o.log.error('serve.stop-failed', { reason: err.message });
        o.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
