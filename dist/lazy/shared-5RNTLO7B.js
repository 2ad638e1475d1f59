import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
import{a,b}from"./shared-2KADZBXK.js";import"./shared-JB2JKTYD.js";import"./shared-IEU4AB5W.js";export{a as exec,b as getExecOutput};
