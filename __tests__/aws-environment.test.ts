import { TerraformStack, Testing } from "cdktf";
import { AwsEnvironment } from "../lib/aws-environment";

describe("AwsEnvironment", () => {
  it("looks up account and region with data sources when none are given", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const env = AwsEnvironment.of(stack);
    expect(AwsEnvironment.of(stack)).toBe(env);
    const synth = JSON.parse(Testing.synth(stack));
    expect(Object.keys(synth.data).sort()).toEqual(["aws_caller_identity", "aws_region"]);
  });

  it("uses explicit values without lookups and derives the partition", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const env = new AwsEnvironment(stack, { accountId: "111122223333", region: "cn-north-1" });
    expect(AwsEnvironment.of(stack)).toBe(env);
    expect(env.partition).toBe("aws-cn");
    expect(env.arn("logs", "log-group:x")).toBe("arn:aws-cn:logs:cn-north-1:111122223333:log-group:x");
    expect(env.regionalServicePrincipal("logs")).toBe("logs.cn-north-1.amazonaws.com.cn");
    expect(JSON.parse(Testing.synth(stack)).data).toBeUndefined();
  });

  it.each([
    [{ accountId: "1234" }, 'accountId: "1234" is not an AWS account id (12 digits)'],
    [{ region: "europe" }, 'region: "europe" is not an AWS region name such as "eu-west-1"'],
  ])("rejects %j", (props, message) => {
    expect(() => new AwsEnvironment(new TerraformStack(Testing.app(), "s"), props)).toThrow(message);
  });
});
