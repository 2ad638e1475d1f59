import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);
import{c as a,d as b,e as c,f as d,g as e,h as f}from"./chunk-2UWYJXFA.js";import"./chunk-NYRTOUVY.js";export{a as cp,f as findInPath,d as mkdirP,b as mv,c as rmRF,e as which};
