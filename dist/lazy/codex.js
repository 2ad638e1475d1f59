import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
import{a,b,c}from"./shared-4LVS4FJN.js";import"./shared-MBRMY72K.js";import"./shared-4SMZVPAA.js";import"./shared-IEU4AB5W.js";export{c as codexLogin,a as ensureCodex,b as runCodexExec};
