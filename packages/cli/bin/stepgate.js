#!/usr/bin/env node
// Runs the built CLI (npm run build). From a checkout without a build: npx tsx packages/cli/src/main.ts
import '../dist/main.js';
