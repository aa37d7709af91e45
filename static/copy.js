// Progressive enhancement of the confirmation page: a button that copies the dossier code in one
// tap. Without JavaScript, or without the Clipboard API, the button stays hidden and the code is
// plain text that one tap selects whole (user-select: all).
(function () {
  if (!navigator.clipboard || !window.isSecureContext) return;
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    var status = document.getElementById(button.getAttribute('data-status'));
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(button.getAttribute('data-copy')).then(
        function () {
          if (status) status.textContent = 'Đã sao chép mã hồ sơ.';
        },
        function () {
          if (status) status.textContent = 'Chưa sao chép được. Hãy chạm vào mã hồ sơ để chọn rồi sao chép.';
        }
      );
    });
  });
})();
