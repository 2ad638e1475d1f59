import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);
import{b,c,d}from"./chunk-SGRZZP4G.js";import{y as a}from"./chunk-HLMCQ2Z5.js";import"./chunk-AKZXFIQC.js";import"./chunk-W5FUQ3UN.js";export{a as nextRefreshAt,c as reportCodexFailure,b as seedLocation,d as writePostSummary};
