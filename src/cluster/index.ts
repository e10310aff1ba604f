// Gateways that present the same LUNs, coordinated through etcd (docs/cluster.md): the configuration,
// the gateway (membership, lease, fencing, watch) and a shared LUN (ownership, ALUA states, shared
// reservations), and how a LUN's identity is derived from its backing.

export { CLUSTER_DEFAULTS, parseClusterUrl, validateClusterConfig, type ClusterAuthConfig, type ClusterConfig, type ClusterTlsConfig } from './config.js';
export { ClusterConfigError, ClusterError } from './errors.js';
export { ClusterGateway, type GatewayOptions, type Member } from './gateway.js';
export { ClusterLun, type ClusterLuHooks } from './lun.js';
export { canonicalBacking, lunIdOf, sharedIdentity, type BackingRef } from './identity.js';
export { FencingClock, fencingMargin, monotonicClock, type MonotonicClock } from './fencing.js';
