export { SshAuthError, SshConnectError, SshHostKeyError, type SshHopRef, type SshStage } from "./errors.js";
export { hostKeyFingerprint, normalizeFingerprint } from "./fingerprint.js";
export { openSshSecret, sealSshSecret, sshSecretContext, type SshSecretKind } from "./secrets.js";
export { loadSshHops } from "./hops.js";
export { KEY_WORKER_FAILED, KeyBusyError, MAX_KDF_ROUNDS, opensshKdfRounds, parseHopKey } from "./key.js";
export { opensshKdf, type OpensshKdf } from "./kdf.js";
export { KEY_QUEUE_FULL, KEY_QUEUE_TIMEOUT } from "./key-worker.js";
