"use client";
import { Alert, Button } from "../../components/ui";

export interface HostKeySeen {
  position: number;
  host: string;
  offered: string;
  /** The pinned fingerprint when the server now offers another one (a changed key); null: never confirmed. */
  pinned: string | null;
}

export interface ReplicaState {
  name: string;
  ok: boolean;
  lagMs?: number | null;
  message?: string;
  stage?: string;
}

export interface ConnectionTestView {
  ok: boolean;
  stage?: string;
  message?: string;
  error?: string;
  serverVersion?: string;
  latencyMs?: number;
  hostKeys?: HostKeySeen[];
  replicas?: ReplicaState[];
}

/** Each failure stage in words: what went wrong where, and what to do about it. */
export const STAGES: Record<string, { title: string; todo: string }> = {
  dns: { title: "DNS: the host name does not resolve", todo: "Check the spelling of the host, or use its IP address." },
  tcp: { title: "TCP: nothing answered at that address", todo: "Check the host and port, that the server listens there, and that no firewall drops the traffic." },
  ssh_auth: { title: "SSH authentication failed", todo: "Check the SSH user and that the public key of this private key is in the server's authorized_keys; check the passphrase." },
  ssh_host_key: { title: "SSH host key not confirmed", todo: "Compare the fingerprint with the one your server administrator gives you (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then confirm it." },
  ssh: { title: "SSH: the tunnel could not be opened", todo: "Check that the bastion allows TCP forwarding (AllowTcpForwarding yes) to the database host and port." },
  tls: { title: "TLS: the secure connection failed", todo: "Check the SSL mode, the CA certificate, the client certificate and key, and the server name." },
  pg_auth: { title: "PostgreSQL refused the login", todo: "Check the user and password, and that pg_hba.conf allows this user from the gateway's address." },
  database_missing: { title: "The database does not exist", todo: "Check the database name (psql -l lists them)." },
  policy: { title: "Refused by this server's target policy", todo: "Ask the operator: TARGET_NETWORKS / TARGET_ALLOW_ADDRESSES decide which addresses connections may use." },
  timeout: { title: "Timed out", todo: "A firewall may be dropping the traffic, or the server is overloaded." },
  other: { title: "Could not connect", todo: "Read the message below." },
};

export function TestResultView({
  test,
  canConfirm,
  onConfirm,
  pending,
}: {
  test: ConnectionTestView;
  canConfirm: boolean;
  onConfirm: (key: HostKeySeen) => void;
  pending: boolean;
}) {
  const replicas = test.replicas?.length ? (
    <ul className="mt-2 space-y-0.5" aria-label="Replicas">
      {test.replicas.map((r) => (
        <li key={r.name} data-testid={`replica-state-${r.name}`}>
          <span className="font-medium">{r.name}</span>: {r.ok ? `up${typeof r.lagMs === "number" ? `, ${formatLag(r.lagMs)} behind` : ""}` : `down — ${r.message ?? "not reachable"}`}
        </li>
      ))}
    </ul>
  ) : null;
  if (test.ok)
    return (
      <Alert tone="green" title="Connected">
        PostgreSQL {test.serverVersion} · round trip {test.latencyMs} ms
        {replicas}
      </Alert>
    );
  const stage = STAGES[test.stage ?? "other"] ?? STAGES.other!;
  const keys = test.hostKeys?.filter((k) => k.offered && k.offered !== k.pinned) ?? [];
  return (
    <div className="space-y-2" data-testid="connection-test-failure" data-stage={test.stage ?? "other"}>
      <Alert title={stage.title}>
        <p>{test.message ?? test.error}</p>
        <p className="mt-1 text-xs">What to do: {stage.todo}</p>
        {replicas}
      </Alert>
      {keys.map((k) => (
        <div key={k.position} className="rounded-md bg-amber-50 px-3 py-2 text-sm ring-1 ring-inset ring-amber-200" data-testid={`host-key-${k.position}`}>
          <p>
            Hop {k.position + 1} ({k.host}) offers host key <span className="font-mono" data-testid="offered-fingerprint">{k.offered}</span>
          </p>
          {k.pinned ? (
            <p className="mt-1 font-medium text-red-700">
              The confirmed key was <span className="font-mono">{k.pinned}</span>: the server&apos;s key changed. Confirm only if you know why (a rebuilt server), otherwise someone may be in the middle.
            </p>
          ) : null}
          {canConfirm ? (
            <Button className="mt-2" variant={k.pinned ? "danger" : "primary"} disabled={pending} onClick={() => onConfirm(k)}>
              Confirm this host key and test again
            </Button>
          ) : (
            <p className="mt-1 text-xs">An owner or admin of this team confirms host keys.</p>
          )}
        </div>
      ))}
    </div>
  );
}

function formatLag(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
