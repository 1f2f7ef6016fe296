import type { SecretKeyring } from "../secrets/index.js";
import { checkedTargetAddress, targetClientConfig, type Resolver, type TargetConnectionRow, type TargetPolicy } from "../target.js";
import type { TargetRoute } from "../target-route.js";
import { SshChain, type ChainTimings, type HopPlan } from "./chain.js";
import { ForwardedSocket } from "./forwarded-socket.js";
import { openHopKey } from "./key-cache.js";

export const SSH_TIMINGS: ChainTimings = {
  readyTimeoutMs: 10_000,
  // A silently dead chain (a bastion that vanished without a reset) is noticed within ~45 s even with
  // no statement running; a reset is noticed at once.
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 3,
};

/**
 * The SSH route: this machine dials only the first hop, at an address checked against the operator's
 * target policy and pinned (a name rebound to loopback or the stack's own servers is refused, as for a
 * database host). Later hops and the database are dialled by the hop before them, from the bastion's
 * network: that is the point of a bastion, and this machine's policy cannot judge addresses that
 * resolve and route there (the operator allowed the bastion, the team chose what it reaches).
 */
export async function openSshRoute(
  row: TargetConnectionRow,
  options: { policy: TargetPolicy; keyring: SecretKeyring; resolve?: Resolver; timings?: ChainTimings },
): Promise<TargetRoute> {
  const hops = [...(row.sshHops ?? [])].sort((a, b) => a.position - b.position);
  const first = hops[0]!;
  const firstAddress = await checkedTargetAddress(row.id, first.host, first.port, options.policy, options.resolve);
  const plans: HopPlan[] = [];
  for (const [index, hop] of hops.entries())
    plans.push({
      position: hop.position,
      host: hop.host,
      port: hop.port,
      username: hop.username,
      dialHost: index === 0 ? firstAddress : hop.host,
      expectedHostKey: hop.hostKeySha256,
      privateKey: await openHopKey(row, hop, options.keyring),
    });
  const timings = options.timings ?? SSH_TIMINGS;
  const chain = new SshChain(plans, timings);
  const base = targetClientConfig(row, options.keyring);
  let closed: Promise<void> | undefined;
  return {
    kind: "ssh",
    config: {
      ...base,
      // pg passes `host` to TLS as the name to verify (and SNI, when not an IP): through a tunnel that is
      // the database's name as the user typed it (or the configured server name). The channel goes to
      // row.host:row.port whatever this says.
      host: row.sslServerName ?? row.host,
      port: row.port,
      stream: () => new ForwardedSocket(() => chain.open(row.host, row.port)),
      // Opening a session may include (re-)establishing the whole chain.
      connectionTimeoutMillis: (base.connectionTimeoutMillis ?? 5_000) + hops.length * 5_000,
    },
    close: () => (closed ??= chain.close()),
  };
}
