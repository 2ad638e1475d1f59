import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);
import{a,b}from"./chunk-FM6DYZJJ.js";import"./chunk-2UWYJXFA.js";import"./chunk-NYRTOUVY.js";export{a as exec,b as getExecOutput};
