import { ClusterKey } from "../lib/cluster-key";
import { synthStack } from "./helpers/synth";

describe("ClusterKey", () => {
  const synth = synthStack((stack) => new ClusterKey(stack, "key", { clusterName: "prod" }));
  const key = synth.only("aws_kms_key").values;
  const statements = JSON.parse(key.policy).Statement;

  it("rotates and waits 30 days before deletion", () => {
    expect(key).toMatchObject({ enable_key_rotation: true, deletion_window_in_days: 30 });
  });

  it("delegates administration to IAM in this account only", () => {
    expect(statements[0]).toMatchObject({ Principal: { AWS: "arn:aws:iam::111122223333:root" }, Action: "kms:*" });
  });

  it("lets CloudWatch Logs use the key only for this cluster's log groups", () => {
    expect(statements[1]).toMatchObject({
      Principal: { Service: "logs.eu-west-1.amazonaws.com" },
      Condition: { ArnLike: { "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:eu-west-1:111122223333:log-group:/k8s/prod/*" } },
    });
  });

  it("lets CloudWatch alarms and EventBridge rules use the key only for this cluster's, in this account", () => {
    const grant = (service: string) => statements.find((st: any) => st.Principal.Service === `${service}.amazonaws.com`);
    expect(grant("cloudwatch").Condition).toEqual({
      StringEquals: { "aws:SourceAccount": "111122223333" },
      ArnLike: { "aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:prod-*" },
    });
    expect(grant("events").Condition).toEqual({
      StringEquals: { "aws:SourceAccount": "111122223333" },
      ArnLike: { "aws:SourceArn": "arn:aws:events:eu-west-1:111122223333:rule/prod-*" },
    });
  });

  it("has no statement with a bare * principal", () => {
    for (const statement of statements) expect(statement.Principal).not.toEqual("*");
  });

  it("is reachable through an alias named after the cluster", () => {
    expect(synth.only("aws_kms_alias").values.name).toBe("alias/k8s/prod");
  });

  it("rejects a deletion window KMS does not accept", () => {
    expect(() => synthStack((stack) => new ClusterKey(stack, "key", { clusterName: "prod", deletionWindowDays: 3 }))).toThrow(
      "deletionWindowDays: 3 is not allowed; KMS accepts whole days from 7 to 30",
    );
  });
});
