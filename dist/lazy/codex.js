import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
import{a,b,c,d}from"./shared-45JFGQM6.js";import"./shared-WVQ7KSUA.js";import"./shared-4SMZVPAA.js";import"./shared-IEU4AB5W.js";export{c as CodexLoginError,d as codexLogin,a as ensureCodex,b as runCodexExec};
