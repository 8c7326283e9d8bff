import { NODE_FILES } from "../bootstrap/node-files";
import { NodeRole } from "../bootstrap/node-roles";
import { SystemdUnit, longRunningService } from "../bootstrap/systemd";
import { NodeFile } from "../bootstrap/user-data";
import { renderLogShipperConfig } from "./logs";

export const LOG_SHIPPER_CONFIG = "/etc/kubeadm-aws/log-sources.json";

/** The log shipper's unit; node-bootstrap.sh starts it when LOG_SHIPPING is true. */
export function observabilityUnits(): SystemdUnit[] {
  return [longRunningService("kubeadm-aws-logs", `/usr/bin/python3 ${NODE_FILES.scriptsDir}/log-shipper.py ${LOG_SHIPPER_CONFIG}`, "kubeadm-aws: ship this node's logs to CloudWatch Logs")];
}

export function observabilityFiles(clusterName: string, region: string, role: NodeRole): NodeFile[] {
  return [{ path: LOG_SHIPPER_CONFIG, content: renderLogShipperConfig(clusterName, region, role) }];
}
