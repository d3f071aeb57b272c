/** registry/: references, auth, pull and push over the distribution API. */
export { RegistryClient, DEFAULT_USER_AGENT, MAX_DOWNLOAD_BYTES, type RegistryOptions, type PushOptions } from './client.js';
export type { PushResult } from './push.js';
export { login, logout, type LoginOptions } from './login.js';
export {
  parseReference,
  makeReference,
  normalizeRegistry,
  repositoryScope,
  isLoopbackRegistry,
  DOCKER_HUB,
  type Reference,
} from './reference.js';
export type { RegistryEvent, EventSink } from './events.js';
export { DEFAULT_TIMEOUTS, type RetryPolicy, type NetworkTimeouts, type HttpResponse } from './http.js';
export {
  RegistryBaseError,
  RegistryError,
  AuthError,
  InvalidReferenceError,
  PlatformNotFoundError,
  TransportError,
  NetworkTimeoutError,
  CredentialHelperError,
  type TimeoutPhase,
  type RegistryErrorEntry,
} from './errors.js';
export { DefaultKeychain, staticKeychain, type Keychain, type Credential, type ResolvedCredential } from './auth/keychain.js';
export { signV4, type AwsCredentials } from './auth/sigv4.js';
export { REMOTE_SOURCE, remoteSourceOf, type RemoteSource } from './pull.js';
