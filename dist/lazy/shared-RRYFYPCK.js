import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
import{a,b,c,d,e,f,g,h}from"./shared-M6EFKILA.js";import"./shared-FL4AVC62.js";import"./shared-IEU4AB5W.js";export{b as Headers,h as HttpClient,e as HttpClientError,f as HttpClientResponse,a as HttpCodes,c as MediaTypes,d as getProxyUrl,g as isHttps};
