import { App } from "cdktf";
import { buildTwoStackApp } from "./app";

// cdktf deploy platform team-data   (see README.md, "Node groups in other stacks")
const app = new App();
buildTwoStackApp(app, { region: process.env.CLUSTER_REGION ?? "eu-west-1", accountId: process.env.CLUSTER_ACCOUNT_ID });
app.synth();
