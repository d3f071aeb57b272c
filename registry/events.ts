/** What registry/ reports while it works; cli/ decides what to print. Never contains credentials. */
export type RegistryEvent =
  | { type: 'retry'; method: string; url: string; attempt: number; delayMs: number; status?: number; errorCode?: string }
  | { type: 'rate-limit'; registry: string; limit?: string; remaining?: string; source?: string }
  | { type: 'blob-skipped'; repository: string; digest: string }
  | { type: 'blob-mounted'; repository: string; digest: string; from: string }
  | { type: 'blob-upload-start'; repository: string; digest: string; size: number; chunked: boolean }
  | { type: 'blob-upload-progress'; repository: string; digest: string; bytes: number; size: number }
  | { type: 'blob-uploaded'; repository: string; digest: string; size: number }
  | { type: 'upload-resumed'; repository: string; digest: string; offset: number }
  | { type: 'upload-restarted'; repository: string; digest: string; reason: string }
  | { type: 'manifest-pushed'; repository: string; reference: string; digest: string; mediaType: string }
  | { type: 'token'; registry: string; scopes: string[]; cached: boolean }
  | { type: 'auth'; registry: string; scheme: 'anonymous' | 'basic' | 'bearer'; source: string };

export type EventSink = (e: RegistryEvent) => void;
