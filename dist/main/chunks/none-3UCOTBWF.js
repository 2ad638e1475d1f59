import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);
import"./chunk-NYRTOUVY.js";var e=class{async acquire(){return{handle:{kind:"none"},waitedMs:0}}async release(){}};export{e as NoLock};
