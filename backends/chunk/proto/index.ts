/** Public surface of the chunk-backend RPC: import from here. */
export * from './status.js';
export * from './frame.js';
export * from './chunk.js';
export * from './messages.js';
export * from './mds-api.js';
export { RpcServer, RpcStatusError } from './rpc-server.js';
export type { RawHandler, RequestContext, RpcServerOptions } from './rpc-server.js';
export { RpcClient, RpcError, parseAddress } from './rpc-client.js';
export type { RpcClientOptions, RpcErrorKind } from './rpc-client.js';
