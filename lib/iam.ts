import { ConfigError } from "./errors";

/** Typed IAM policy documents, rendered to the JSON that AWS expects. */
export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: "Allow" | "Deny";
  readonly Principal?: "*" | { readonly [kind: string]: string | string[] };
  readonly Action: string | string[];
  readonly Resource?: string | string[];
  readonly Condition?: { readonly [operator: string]: { readonly [key: string]: string | string[] | boolean } };
}

export function policyDocument(statements: PolicyStatement[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

/** Trust policy that lets one AWS service assume a role, optionally only on behalf of one account. */
export function serviceTrustPolicy(servicePrincipal: string, sourceAccount?: string): string {
  return policyDocument([
    {
      Effect: "Allow",
      Principal: { Service: servicePrincipal },
      Action: "sts:AssumeRole",
      // Guards against the confused-deputy problem when a service acts for several accounts.
      ...(sourceAccount ? { Condition: { StringEquals: { "aws:SourceAccount": sourceAccount } } } : {}),
    },
  ]);
}

const IAM_PRINCIPAL_ARN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)\/[\w+=,.@\/*-]+$/;

/** IAM role or user ARNs (wildcards allowed in the path), or a ConfigError naming `property`. */
export function validatePrincipalArns(arns: string[], property: string): string[] {
  if (arns.length === 0) throw new ConfigError(property, "must name at least one IAM role or user ARN; nobody could read the admin kubeconfig");
  const bad = arns.find((arn) => !IAM_PRINCIPAL_ARN.test(arn));
  if (bad !== undefined) {
    throw new ConfigError(property, `${JSON.stringify(bad)} is not an IAM role or user ARN such as "arn:aws:iam::111122223333:role/platform-admin"`);
  }
  return arns;
}
