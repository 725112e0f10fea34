// The resume measurement (arm_resume.js) once the tile decoded a picture after the click; false until then.
() => window.__rnResume.frame !== null && window.__rnResume
