import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);
import{a,b,c,d,e,f,g,h}from"./chunk-N5OQ56VR.js";import"./chunk-JWPTL66D.js";import"./chunk-NYRTOUVY.js";export{b as Headers,h as HttpClient,e as HttpClientError,f as HttpClientResponse,a as HttpCodes,c as MediaTypes,d as getProxyUrl,g as isHttps};
