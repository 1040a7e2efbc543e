// The standalone trainee page: mounts the widget with the session from ?session= (a training
// site that sends the trainee here), or without one to show this browser's codes. A file, not
// an inline script: the server's Content-Security-Policy forbids inline scripts.
import init, { mount } from './cloud-otp-web.js';

await init();
const session = new URLSearchParams(location.search).get('session');
mount(document.getElementById('otp'), { session });
