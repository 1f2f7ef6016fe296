import type { SecretKeyring } from "../secrets/index.js";

export type SshSecretKind = "key" | "passphrase";

/**
 * The AAD a hop's secret is sealed under: bound to the connection and the hop's position, so a sealed
 * key copied to another connection or another hop fails to open instead of being used there.
 */
export function sshSecretContext(connectionId: string, position: number, kind: SshSecretKind): string {
  return `${connectionId}:ssh:${position}:${kind}`;
}

/** Seals a hop's private key (PEM/OpenSSH text) or passphrase; the dashboard, CLI and tests all use this. */
export function sealSshSecret(keyring: SecretKeyring, connectionId: string, position: number, kind: SshSecretKind, plaintext: string): string {
  return keyring.seal(plaintext, sshSecretContext(connectionId, position, kind)).ciphertext;
}

export function openSshSecret(keyring: SecretKeyring, connectionId: string, position: number, kind: SshSecretKind, sealed: string): string {
  return keyring.open(sealed, sshSecretContext(connectionId, position, kind));
}
