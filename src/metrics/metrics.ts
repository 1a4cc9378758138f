/**
 * The service's counters in Prometheus form (prom-client), one registry per
 * running service: no global default registry, so a test or a second
 * service in the same process counts on its own. The servers get the plain
 * hooks of hooks.ts; gauges that describe state (tasks, the store) are read
 * when scraped.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import { reasonClass } from './dhcp-reasons.ts';
import type { DhcpHooks, HttpHooks, TftpHooks } from './hooks.ts';
import { OfferWatch } from './offer-watch.ts';
import type { StoreSummary } from './store-summary.ts';

export interface TaskCount {
  kind: string;
  state: string;
  n: number;
}

export interface MetricSources {
  /** Tasks by kind and state (restores and captures: pending, started = running, done, failed, cancelled). */
  tasks(): TaskCount[];
  /** The store's size and dedup ratio (may be slow: cached by the caller). */
  store(): Promise<StoreSummary>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly watch = new OfferWatch();
  readonly dhcp: DhcpHooks;
  readonly tftp: TftpHooks;
  readonly http: HttpHooks;
  #sources: MetricSources | undefined;
  readonly #loginFailures: Counter<'where'>;

  constructor(now: () => number = Date.now) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'netrestore_' });
    const dhcpRequests = new Counter({ name: 'netrestore_dhcp_requests_total', help: 'DHCP requests received, by port (dhcp 67, pxe 4011) and message type', labelNames: ['port', 'type'], registers: [r] });
    const dhcpReplies = new Counter({ name: 'netrestore_dhcp_replies_total', help: 'DHCP replies sent, by port and message type', labelNames: ['port', 'type'], registers: [r] });
    const dhcpIgnored = new Counter({ name: 'netrestore_dhcp_ignored_total', help: 'DHCP requests not answered, by reason', labelNames: ['reason'], registers: [r] });
    const transfers = new Counter({ name: 'netrestore_tftp_transfers_total', help: 'TFTP read requests by result (done, failed, refused)', labelNames: ['result'], registers: [r] });
    const served = new Counter({ name: 'netrestore_bytes_served_total', help: 'Bytes sent to clients, by protocol (tftp: file bytes; http: response bytes with headers)', labelNames: ['protocol'], registers: [r] });
    const httpRequests = new Counter({ name: 'netrestore_http_requests_total', help: 'HTTP requests by method, route pattern and status', labelNames: ['method', 'route', 'status'], registers: [r] });
    this.#loginFailures = new Counter({ name: 'netrestore_login_failures_total', help: 'Refused logins: menu (a wrong user or password at the boot menu) and api (a missing or wrong token)', labelNames: ['where'], registers: [r] });
    for (const p of ['tftp', 'http']) served.inc({ protocol: p }, 0);
    for (const w of ['menu', 'api']) this.#loginFailures.inc({ where: w }, 0);

    const sources = () => this.#sources;
    new Gauge({
      name: 'netrestore_tasks',
      help: 'Restore and capture tasks by kind and state (started: running now)',
      labelNames: ['kind', 'state'],
      registers: [r],
      collect() {
        this.reset();
        const s = sources();
        if (!s) return;
        // Every pair appears, 0 included: a dashboard needs no special case for "none yet".
        for (const kind of ['restore', 'capture']) for (const state of ['pending', 'started', 'done', 'failed', 'cancelled']) this.set({ kind, state }, 0);
        for (const t of s.tasks()) this.set({ kind: t.kind, state: t.state }, t.n);
      },
    });
    const storeGauge = (name: string, help: string, pick: (s: StoreSummary) => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        async collect() {
          const s = sources();
          if (s) this.set(pick(await s.store()));
        },
      });
    storeGauge('netrestore_store_images', 'Images in the store', (s) => s.images);
    storeGauge('netrestore_store_bytes', 'Bytes of chunk files in the image store (compressed, each chunk once)', (s) => s.storedBytes);
    storeGauge('netrestore_store_logical_bytes', 'Bytes of data the images hold (their disks less free and zero areas)', (s) => s.logicalBytes);
    storeGauge('netrestore_store_dedup_ratio', 'Logical bytes per stored byte: what deduplication and compression save together', (s) => s.dedupRatio);
    const watch = this.watch;
    new Gauge({
      name: 'netrestore_dhcp_offers_ignored_clients',
      help: 'Clients that sent repeated DISCOVERs and never followed our offer (firmware that ignores ProxyDHCP; see /healthz)',
      registers: [r],
      collect() {
        this.set(watch.ignoring(now()).length);
      },
    });

    this.dhcp = {
      request: (port, type) => dhcpRequests.inc({ port, type }),
      reply: (port, type) => dhcpReplies.inc({ port, type }),
      ignored: (reason) => dhcpIgnored.inc({ reason: reasonClass(reason) }),
      offered: (mac) => this.watch.offered(mac, now()),
      followed: (mac) => this.watch.followed(mac),
    };
    this.tftp = {
      transfer: (result, bytes) => {
        transfers.inc({ result });
        if (bytes > 0) served.inc({ protocol: 'tftp' }, bytes);
      },
    };
    this.http = {
      request: (method, route, status, bytes) => {
        httpRequests.inc({ method, route, status: String(status) });
        if (bytes > 0) served.inc({ protocol: 'http' }, bytes);
      },
    };
  }

  /** Where the state gauges read from; set once the database and the store are open. */
  readFrom(s: MetricSources): void {
    this.#sources = s;
  }

  loginFailure(where: 'menu' | 'api'): void {
    this.#loginFailures.inc({ where });
  }

  /**
   * A logger that also counts refused logins: the menu and the token check
   * report them as log events, so counting them needs no hook in those files.
   */
  countingLogins(log: Logger): Logger {
    const count = (event: string) => {
      if (event === 'boot.login-failed') this.loginFailure('menu');
      else if (event === 'http.login-failed') this.loginFailure('api');
    };
    return {
      debug: (event, fields) => log.debug(event, fields),
      info: (event, fields) => log.info(event, fields),
      warn: (event, fields) => {
        count(event);
        log.warn(event, fields);
      },
      error: (event, fields) => log.error(event, fields),
      secret: (value, minted) => log.secret(value, minted),
    };
  }

  async text(): Promise<string> {
    // prom-client writes a not-a-number as "Nan" (the event loop lag before its first sample); the format says NaN.
    return (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN');
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Cache a slow summary for `ms`: a scrape every 15 s must not walk the store every time. */
export function cached<T>(load: () => Promise<T>, ms: number, now: () => number = Date.now): () => Promise<T> {
  let at = -Infinity;
  let value: Promise<T> | undefined;
  return () => {
    if (!value || now() - at > ms) {
      at = now();
      value = load().catch((err: unknown) => {
        value = undefined;
        throw err;
      });
    }
    return value;
  };
}
