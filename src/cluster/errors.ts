// Errors of the cluster layer: a configuration that cannot work, and etcd refusing or not answering.

import { TsiscsiError } from '../errors.js';

/** A cluster setting is wrong; the message names the setting (`cluster.leaseTtlS: ...`). */
export class ClusterConfigError extends TsiscsiError {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super('ERR_CLUSTER_CONFIG', `${setting}: ${message}`);
    this.name = 'ClusterConfigError';
    this.setting = setting;
  }
}

/** etcd could not be reached, refused a request, or the gateway lost its membership. */
export class ClusterError extends TsiscsiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CLUSTER', message, options);
    this.name = 'ClusterError';
  }
}
