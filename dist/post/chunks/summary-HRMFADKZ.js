import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);
import{b,c,d}from"./chunk-OMDKF66U.js";import{q as a}from"./chunk-DDGS3EFR.js";import"./chunk-ZBRCRGPR.js";import"./chunk-DWW3ITTI.js";import"./chunk-NYRTOUVY.js";export{a as nextRefreshAt,c as reportCodexFailure,b as seedLocation,d as writePostSummary};
