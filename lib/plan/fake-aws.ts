import { createServer } from "node:http";
import { AddressInfo } from "node:net";

/** The account id the offline plan reports; AWS documents it as an example account. */
export const PLACEHOLDER_ACCOUNT_ID = "123456789012";

/**
 * AWS services whose endpoints the offline plan points at the local stand-in,
 * so no data source can reach (or hang on) the real AWS.
 */
export const OFFLINE_SERVICES = [
  "autoscaling", "cloudwatch", "ec2", "elbv2", "events", "iam", "kms", "logs",
  "route53", "s3", "secretsmanager", "sns", "sqs", "ssm", "sts",
] as const;

const EC2_API_VERSION = "2016-11-15";

export interface FakeAws {
  readonly url: string;
  /** The API actions Terraform asked for, in order. */
  readonly calls: string[];
  close(): Promise<void>;
}

/**
 * A loopback stand-in for AWS during an offline plan. It answers only
 * sts:GetCallerIdentity (with the placeholder account), so a stack may look up
 * its account. Any other call gets an immediate, non-retryable error that says
 * which value to pass explicitly instead.
 */
export async function startFakeAws(accountId = PLACEHOLDER_ACCOUNT_ID): Promise<FakeAws> {
  const calls: string[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      const target = request.headers["x-amz-target"];
      const action = typeof target === "string" ? target.split(".").pop()! : (new URLSearchParams(body).get("Action") ?? `${request.method} ${request.url}`);
      calls.push(action);
      if (action === "GetCallerIdentity") {
        response.writeHead(200, { "content-type": "text/xml" });
        response.end(callerIdentityXml(accountId));
        return;
      }
      const message = `offline plan: the AWS call ${action} cannot be answered without AWS; pass the value it looks up explicitly (see README.md, "Offline plan")`;
      if (typeof target === "string") {
        response.writeHead(400, { "content-type": "application/x-amz-json-1.1" });
        response.end(JSON.stringify({ __type: "OfflinePlanUnsupported", message }));
      } else if (new URLSearchParams(body).get("Version") === EC2_API_VERSION) {
        // EC2 has an error envelope of its own.
        response.writeHead(400, { "content-type": "text/xml" });
        response.end(`<Response><Errors><Error><Code>OfflinePlanUnsupported</Code><Message>${message}</Message></Error></Errors><RequestID>offline</RequestID></Response>`);
      } else {
        response.writeHead(400, { "content-type": "text/xml" });
        response.end(`<ErrorResponse><Error><Type>Sender</Type><Code>OfflinePlanUnsupported</Code><Message>${message}</Message></Error><RequestId>offline</RequestId></ErrorResponse>`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function callerIdentityXml(accountId: string): string {
  return `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::${accountId}:user/offline-plan</Arn><UserId>AIDAOFFLINEPLAN</UserId><Account>${accountId}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>offline</RequestId></ResponseMetadata></GetCallerIdentityResponse>`;
}
