export { SshAuthError, SshConnectError, SshHostKeyError, type SshHopRef, type SshStage } from "./errors.js";
export { hostKeyFingerprint, normalizeFingerprint } from "./fingerprint.js";
export { openSshSecret, sealSshSecret, sshSecretContext, type SshSecretKind } from "./secrets.js";
export { loadSshHops } from "./hops.js";
export { MAX_KDF_ROUNDS, opensshKdfRounds, parseHopKey } from "./key.js";
