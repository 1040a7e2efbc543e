// The demo training site's own script: when the cloud-otp widget hands over a pass, send it
// to the site's backend (/demo/redeem), which redeems it with /v1/siteverify, and show what
// the backend learned. Loaded as a file because the page's CSP forbids inline script.
const widget = document.querySelector('cloud-otp');
const result = document.getElementById('result');
// The trainee's status as the page was opened; a verified pass means a registered device.
const userStatus = document.getElementById('user-status');

function show(text, ok) {
  result.textContent = text;
  result.className = ok ? 'ok' : 'fail';
}

if (widget && result) {
  widget.addEventListener('cloud-otp-pass', async (event) => {
    const detail = event.detail;
    const pass = typeof detail === 'string' ? detail : detail && detail.pass;
    if (!pass) {
      show('The widget sent no pass.', false);
      return;
    }
    show('Checking the pass with the OTP server...', true);
    try {
      const response = await fetch('/demo/redeem', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ pass }),
      });
      const body = await response.json();
      if (body.success) {
        if (userStatus) userStatus.textContent = 'status: active';
        show(`Verified: ${body.user_id} passed OTP for "${body.purpose}" at ${body.verified_at} ` +
          `on ${body.device.label}. The training site would now let the trainee in.`, true);
      } else {
        show(`Not verified (${body.error}).`, false);
      }
    } catch (e) {
      show('The training site could not reach its backend.', false);
    }
  });
}
