import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);
import{b,c,d}from"./chunk-64KD7UEO.js";import{q as a}from"./chunk-N2DMUYJO.js";import"./chunk-ZBRCRGPR.js";import"./chunk-AKZXFIQC.js";import"./chunk-NYRTOUVY.js";export{a as nextRefreshAt,c as reportCodexFailure,b as seedLocation,d as writePostSummary};
