import { SshAuthError, SshConnectError, SshHostKeyError } from "./ssh/errors.js";

/**
 * Where reaching a target database failed, for the connection test (dashboard, CLI) and the gateway's
 * target_unavailable answers. The stages follow the way a session is built: name → TCP → SSH (auth,
 * host key, the tunnel) → TLS → PostgreSQL authentication → the database.
 */
export const TARGET_FAILURE_STAGES = [
  "dns",
  "tcp",
  "ssh_auth",
  "ssh_host_key",
  "ssh",
  "tls",
  "pg_auth",
  "database_missing",
  "policy",
  "timeout",
  "other",
] as const;
export type TargetFailureStage = (typeof TARGET_FAILURE_STAGES)[number];

export interface TargetFailure {
  stage: TargetFailureStage;
  /** One sentence: what happened, and what to do about it. Never a secret. */
  message: string;
}

export interface TargetFailureFields {
  host: string;
  port: number;
  database: string;
  username: string;
  /** The SSH route, when there is one: a TCP failure is then the last hop's view of the database. */
  sshHops?: readonly { host: string; port: number }[];
}

const DNS = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL"]);
const TCP = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ECONNRESET", "EPIPE"]);
const TIMEOUT = new Set(["ETIMEDOUT", "ESOCKETTIMEDOUT"]);
// Node's verification failures (the server's certificate, as checked by us).
const UNTRUSTED = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
]);

const hopName = (hop: { host: string; port: number; position: number }) => `the SSH server at ${hop.host}:${hop.port} (hop ${hop.position + 1})`;

/** Classifies an error met while reaching a target, in words; unknown errors keep their text, password-scrubbed. */
export function describeTargetFailure(error: unknown, fields: TargetFailureFields): TargetFailure {
  const where = `${fields.host}:${fields.port}`;
  const tunnelled = (fields.sshHops?.length ?? 0) > 0;
  const lastHop = tunnelled ? fields.sshHops![fields.sshHops!.length - 1]! : undefined;

  if (error instanceof SshHostKeyError || (error as { code?: unknown })?.code === "ssh_host_key") {
    const e = error as SshHostKeyError;
    return {
      stage: "ssh_host_key",
      message: e.expected
        ? `${hopName(e)} offered host key ${e.offered}, but ${e.expected} is the confirmed one: refused, because the server was replaced or someone is in the way — ask its administrator which key it has now before confirming the new one`
        : `${hopName(e)} offered host key ${e.offered}, which is not confirmed yet: confirm it in the dashboard (or with \`portcullis connection host-key confirm\`) if it is the key you expect`,
    };
  }
  if (error instanceof SshAuthError) {
    const who = `user "${error.username}"`;
    const message =
      error.reason === "rejected"
        ? `${hopName(error)} did not accept the private key for ${who}: add its public key to ~${error.username}/.ssh/authorized_keys there, or check the user name`
        : error.reason === "passphrase"
          ? `the passphrase does not open the private key for ${who} at ${error.host}:${error.port}: enter the key's passphrase again`
          : /secret (failed authentication|was sealed with key|is not in the v1)/.test(error.message)
            ? `the stored private key for ${who} at ${error.host}:${error.port} cannot be opened (${/\((secret[^)]*)\)/.exec(error.message)?.[1] ?? "sealed secret"}): enter the key again`
            : `the private key for ${who} at ${error.host}:${error.port} cannot be read: paste it in OpenSSH or PEM form (ssh-keygen -p -m PEM converts one)`;
    return { stage: "ssh_auth", message };
  }
  if (error instanceof SshConnectError) {
    const hop = hopName(error);
    const cause = error.causeCode ?? "";
    if (error.stage === "timeout" || TIMEOUT.has(cause)) return { stage: "timeout", message: `reaching ${hop} timed out: a firewall may be dropping the traffic, or the host is down` };
    if (error.stage === "connect") {
      if (DNS.has(cause)) return { stage: "dns", message: `the SSH host name "${error.host}" does not resolve${error.position > 0 ? " (from the hop before it)" : ""}: check the name` };
      return {
        stage: "tcp",
        message: `nothing is accepting SSH connections at ${error.host}:${error.port}${error.position > 0 ? " (as the hop before it sees it)" : ""}: check the host and port, and that sshd listens there`,
      };
    }
    if (error.stage === "forward") {
      // The last hop could not open the database's port (from its network): that is the database's TCP stage.
      const toDatabase = lastHop && error.host === lastHop.host && error.port === lastHop.port;
      if (toDatabase && /refused|connect failed|unreachable|no route/i.test(error.message))
        return { stage: "tcp", message: `${hop} could not connect to ${where}: check the database host and port as that server sees them, and that PostgreSQL listens there` };
      return { stage: "ssh", message: `${hop} refused to forward the connection onward (${scrub(error.message)}): its sshd must allow TCP forwarding (AllowTcpForwarding, PermitOpen)` };
    }
    if (error.stage === "closed") return { stage: "ssh", message: `the SSH tunnel through ${error.host}:${error.port} closed: the next attempt opens it again (${scrub(error.message)})` };
    if (error.stage === "handshake") return { stage: "ssh", message: `${scrub(error.message)}: check that ${error.host}:${error.port} is an SSH server` };
    return { stage: "ssh", message: `the SSH session with ${hop} failed: ${scrub(error.message)}` };
  }

  const e = (error ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  const text = scrub(typeof e.message === "string" ? e.message : String(error));

  if (code === "target_refused") return { stage: "policy", message: text.replace(/^connection \S+ refused: /, "") };
  if (DNS.has(code)) {
    // A route's first SSH hop is resolved here too (TargetAddressError names the host it checked).
    const named = typeof (e as { host?: unknown }).host === "string" ? (e as { host: string }).host : fields.host;
    const ssh = named !== fields.host && fields.sshHops?.some((h) => h.host === named);
    return { stage: "dns", message: `the ${ssh ? "SSH " : ""}host name "${named}" does not resolve: check the name (and that this server can resolve it)` };
  }
  if (TCP.has(code))
    return {
      stage: "tcp",
      message: tunnelled
        ? `the SSH tunnel reached ${lastHop!.host}:${lastHop!.port}, but nothing is accepting connections at ${where} from there: check the database host and port as that server sees them`
        : `nothing is accepting connections at ${where}: check the host and port, and that PostgreSQL listens there`,
    };
  if (TIMEOUT.has(code)) return timedOut(where, fields, "a firewall may be dropping the traffic");

  switch (code) {
    case "28P01":
      return { stage: "pg_auth", message: `password authentication failed for user "${fields.username}": check the user name and password` };
    case "28000":
      if (/certificate/i.test(text))
        return {
          stage: "tls",
          message: `the server wants a valid client certificate for user "${fields.username}" (it said: ${text}): give the certificate and key its CA issued for that user (its CN must be the user name)`,
        };
      if (/SSL off|no encryption/i.test(text)) return { stage: "tls", message: `the server accepts only TLS sessions for user "${fields.username}": set SSL mode to require or stronger` };
      return { stage: "pg_auth", message: `the server refused user "${fields.username}" (${text}): its pg_hba.conf has no entry that admits this user from here` };
    case "3D000":
      return { stage: "database_missing", message: `database "${fields.database}" does not exist on ${where}: check the name (\\l in psql lists them)` };
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return {
        stage: "tls",
        message: `the server's TLS certificate does not name the host it was checked against (${text}): connect by a name the certificate has, set the server name, or use verify-ca`,
      };
    case "CERT_HAS_EXPIRED":
    case "CERT_NOT_YET_VALID":
      return { stage: "tls", message: `the server's TLS certificate is ${code === "CERT_HAS_EXPIRED" ? "expired" : "not valid yet"}: renew it on the server` };
  }
  if (UNTRUSTED.has(code))
    return { stage: "tls", message: `the server's TLS certificate is not trusted (${code}): add the CA that issued it as the CA certificate, or use SSL mode "require"` };
  if (/^ERR_SSL_|^ERR_TLS_/.test(code) || code === "EPROTO") {
    if (/unknown ca|bad certificate|certificate required|certificate unknown/i.test(text))
      return { stage: "tls", message: `the server did not accept the client certificate (${tlsAlert(text)}): use a certificate issued by the CA the server trusts for client certificates` };
    return { stage: "tls", message: `the TLS handshake with ${where} failed (${tlsAlert(text)})` };
  }
  if (/does not support SSL/i.test(text)) return { stage: "tls", message: `the server at ${where} does not support SSL: set SSL mode to "disable" or enable SSL on the server` };
  if (/client certificate without its key|key without its certificate/i.test(text)) return { stage: "tls", message: `${text}: give both the client certificate and its key` };
  if (/timeout|timed out/i.test(text)) return timedOut(where, fields, "the server is slow to answer or a firewall drops the traffic");
  return { stage: "other", message: text };
}

/**
 * Through a tunnel the database session waits on the SSH route first: a bastion that accepts TCP and
 * then says nothing times the session out before SSH's own handshake timeout. Name the route, not just
 * the database, or the operator looks in the wrong place.
 */
function timedOut(where: string, fields: Parameters<typeof describeTargetFailure>[1], why: string): TargetFailure {
  const first = fields.sshHops?.[0];
  if (!first) return { stage: "timeout", message: `connecting to ${where} timed out: ${why}` };
  const route = fields.sshHops!.map((h) => `${h.host}:${h.port}`).join(" → ");
  return { stage: "timeout", message: `connecting to ${where} through the SSH route (${route}) timed out: an SSH server that accepts the connection but does not answer, a hop that cannot reach the next, or ${why}` };
}

/** OpenSSL's alert text without the pointer and file noise ("…:tlsv1 alert unknown ca:…"). */
function tlsAlert(text: string): string {
  const alert = /(tlsv1[3]? alert [a-z ]+|sslv3 alert [a-z ]+|certificate required|bad certificate|unknown ca)/i.exec(text);
  return alert ? alert[1]!.trim() : text;
}

function scrub(message: string): string {
  return message.replace(/password[^\s]*\s*=\s*\S+/gi, "password=***");
}
