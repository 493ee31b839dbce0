// The envelop entry (`graphql-session-controller/envelop`): re-exports only. Kept out of the main
// entry so that an Apollo app never loads it, and it imports nothing of @envelop/core or
// graphql-yoga at run time (their types only): both are optional peers.
export { useSessionControl } from './envelop/plugin.js';
export { type CurrentSession, currentSession, requireSession } from './request-session.js';
