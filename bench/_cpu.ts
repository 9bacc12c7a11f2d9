import { endpointsFromEnv } from '@stepgate/infra';
import { benchGatePipeline } from './gate-pipeline.js';
const r = await benchGatePipeline(endpointsFromEnv(), [100], 200, 20000);
console.log(JSON.stringify(r.sustained));
