import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
import{c as a,d as b,e as c,f as d,g as e,h as f}from"./shared-JB2JKTYD.js";import"./shared-IEU4AB5W.js";export{a as cp,f as findInPath,d as mkdirP,b as mv,c as rmRF,e as which};
